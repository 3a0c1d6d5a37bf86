/** The budgets for what clients cause beyond their own socket: activity entries and log lines. */
import type { RelayConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { MetadataService } from '../metadata/service.ts';
import type { Metrics } from '../metrics.ts';
import { ActivityBudget } from './activityBudget.ts';
import { AdmissionGate } from './admission.ts';
import { ClientLog } from './clientLog.ts';
import { IpRateLimiter } from './ipRateLimiter.ts';

export interface ClientLimits {
  activity: ActivityBudget;
  log: ClientLog;
  /** New visitor ids per address: each one is a new record in the store. Reconnects are not counted. */
  newVisitors: IpRateLimiter;
  /** Visitor sockets admitted per second (per address first, then in all) and waiting on the store: the rest is shed (connect storms). */
  admission: AdmissionGate;
}

export function clientLimits(config: RelayConfig, metrics: Metrics, log: Logger, metadata: MetadataService): ClientLimits {
  return {
    activity: new ActivityBudget({
      perIpPerMin: config.activityPerMinPerIp,
      perAccountPerMin: config.activityPerMinPerAccount,
      backlogged: () => metadata.writer.pendingActivity >= config.activityBacklogLimit,
      metrics,
    }),
    log: new ClientLog(log, metrics, { perIpPerMin: config.clientLogLinesPerMinPerIp, totalPerMin: config.clientLogLinesPerMin }),
    newVisitors: new IpRateLimiter(config.newVisitorsPerMinPerIp / 60, config.newVisitorsPerMinPerIp),
    admission: new AdmissionGate(config.admissionsPerSec, config.maxPendingAdmissions, config.admissionsPerSecPerIp),
  };
}
