import { HttpError, type HttpErrorName } from '../../protocol/index.ts';
import { statusLine } from '../http/respond.ts';
import type { UpgradeRequest } from '../http/upgradeRequest.ts';
import type { Metrics } from '../metrics.ts';

/** Refuses an upgrade with a status and JSON body: no socket is opened. */
export function refuseUpgrade(u: UpgradeRequest, metrics: Metrics, name: HttpErrorName, message: string, headers: Record<string, string> = {}): void {
  metrics.counters.upgrades_refused_total++;
  if (u.aborted) return;
  const { status, code } = HttpError[name];
  u.res.cork(() => {
    u.res.writeStatus(statusLine(status));
    u.res.writeHeader('content-type', 'application/json; charset=utf-8');
    u.res.writeHeader('x-content-type-options', 'nosniff');
    for (const [k, v] of Object.entries(headers)) u.res.writeHeader(k, v);
    u.res.end(JSON.stringify({ error: { code, message } }));
  });
}
