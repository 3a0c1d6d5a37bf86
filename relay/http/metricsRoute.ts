/**
 * `GET /metrics` (Prometheus text), only with `Authorization: Bearer <METRICS_TOKEN>`: the counters
 * describe traffic and load, which is nobody's business but the operator's. Without METRICS_TOKEN
 * the route is off (404). The token is compared in constant time (digests of equal length), and
 * wrong tokens spend the address's failed-authentication budget like any other credential.
 */
import crypto from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { isRefusal } from '../auth/authGate.ts';
import type { RelayContext } from '../context.ts';
import { uwsIsNative } from '../uwsLoader.ts';
import { requestIp } from './apiLimits.ts';
import { pending, sendError, statusLine } from './respond.ts';

const digest = (s: string) => crypto.createHash('sha256').update(s).digest();

export function metricsTokenMatches(header: string, expected: string): boolean {
  const given = /^Bearer +(\S+)$/i.exec(header)?.[1] ?? '';
  return crypto.timingSafeEqual(digest(given), digest(expected));
}

export function registerMetrics(app: TemplatedApp, ctx: RelayContext, counted: <H>(h: H) => H): void {
  const expected = ctx.config.metricsToken;
  app.get('/metrics', counted((res: HttpResponse, req: HttpRequest) => {
    const p = pending(res);
    if (!expected) return sendError(p, 'notFound', '/metrics is off: set METRICS_TOKEN to turn it on');
    const ip = requestIp(ctx, res, req);
    const ticket = ctx.apiLimits.auth.reserve(ip, false);
    if (isRefusal(ticket)) {
      ctx.metrics.counters.rate_limited_total++;
      return sendError(p, ticket.refused, ticket.message, { 'retry-after': String(ticket.retryAfterSec) });
    }
    const ok = metricsTokenMatches(req.getHeader('authorization'), expected);
    ticket.settle(ok);
    if (!ok) {
      ctx.metrics.counters.http_auth_failures_total++;
      return sendError(p, 'unauthorized', 'Authorization: Bearer <METRICS_TOKEN> is required', { 'www-authenticate': 'Bearer' });
    }
    const body = ctx.metrics.render({
      uws_native: uwsIsNative ? 1 : 0,
      rss_bytes: process.memoryUsage.rss(),
      scrypt_in_flight: ctx.apiLimits.auth.scryptInFlight,
    });
    res.cork(() => {
      res.writeStatus(statusLine(200));
      res.writeHeader('content-type', 'text/plain; version=0.0.4');
      res.writeHeader('cache-control', 'no-store');
      res.writeHeader('x-content-type-options', 'nosniff');
      res.end(body);
    });
  }));
}
