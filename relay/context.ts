import type { TemplatedApp } from 'uWebSockets.js';
import type { AccountService } from './accounts.ts';
import type { RelayConfig } from './config.ts';
import type { IpConnections } from './limits/ipConnections.ts';
import type { Logger } from './log.ts';
import type { MetadataService } from './metadata/service.ts';
import type { Metrics } from './metrics.ts';
import type { SessionRouter } from './sessions/router.ts';
import type { Store } from './store/types.ts';
import type { ApiLimits } from './http/apiLimits.ts';
import type { ClientLimits } from './limits/clientLimits.ts';

/** What the socket and HTTP handlers share. */
export interface RelayContext {
  app: TemplatedApp;
  config: RelayConfig;
  store: Store;
  accounts: AccountService;
  router: SessionRouter;
  metrics: Metrics;
  metadata: MetadataService;
  log: Logger;
  relaySecret: Buffer;
  ipConnections: IpConnections;
  apiLimits: ApiLimits;
  /** Budgets for what clients cause in the activity log and the log. */
  clientLimits: ClientLimits;
  state: { shuttingDown: boolean };
}
