/**
 * `GET /v1/visitor/check?key=…[&vid=…&vt=…]`: the same admission checks as the visitor socket,
 * answered over plain HTTP. Browsers report a refused WebSocket upgrade only as a bare 1006, so
 * the embed script asks here to tell "refused: stop retrying" from "network trouble: retry".
 * 204 when a socket would be accepted; otherwise the refusal's status and JSON body.
 * Limited per client address (VISITOR_CHECKS_PER_SEC): each check may cost a store read.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { RelayContext } from '../context.ts';
import { admitVisitor } from '../sockets/admitVisitor.ts';
import { requestIp } from './apiLimits.ts';
import { pending, sendError, statusLine } from './respond.ts';

// Readable from any page: it reveals nothing the upgrade's own status does not, and carries no cookies.
const CORS = { 'access-control-allow-origin': '*' };

export function registerVisitorCheck(app: TemplatedApp, ctx: RelayContext, counted: <H>(h: H) => H): void {
  app.get('/v1/visitor/check', counted((res, req) => {
    const p = pending(res);
    const ip = requestIp(ctx, res, req);
    if (!ctx.apiLimits.visitorChecks.take(ip)) {
      ctx.metrics.counters.rate_limited_total++;
      const retry = String(ctx.apiLimits.visitorChecks.retryAfterSec(ip));
      return sendError(p, 'rateLimited', 'too many visitor checks from this address', { ...CORS, 'retry-after': retry });
    }
    const query = new URLSearchParams(req.getQuery() ?? '');
    const origin = req.getHeader('origin');
    admitVisitor(ctx, query, origin).then(
      (admitted) => {
        if (admitted.ok) {
          if (p.aborted) return;
          p.res.cork(() => {
            p.res.writeStatus(statusLine(204));
            p.res.writeHeader('access-control-allow-origin', '*');
            p.res.writeHeader('cache-control', 'no-store');
            p.res.writeHeader('x-content-type-options', 'nosniff');
            p.res.endWithoutBody();
          });
          p.aborted = true;
          return;
        }
        sendError(p, admitted.name, admitted.message, CORS);
      },
      () => sendError(p, 'internal', 'internal error', CORS),
    );
  }));
}
