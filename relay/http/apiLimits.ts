/**
 * Per-address limits of the HTTP surface: REST requests per second, visitor checks per second, and
 * the failed-authentication budget with the scrypt in-flight caps (relay/auth/authGate.ts), which
 * the REST API, /metrics and agent socket upgrades share.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { AuthGate } from '../auth/authGate.ts';
import type { RelayConfig } from '../config.ts';
import type { RelayContext } from '../context.ts';
import { IpRateLimiter } from '../limits/ipRateLimiter.ts';
import { clientIp } from './clientIp.ts';
import { pending, sendError } from './respond.ts';

export interface ApiLimits {
  requests: IpRateLimiter;
  visitorChecks: IpRateLimiter;
  auth: AuthGate;
}

type LimitsConfig = Pick<RelayConfig, 'apiRequestsPerSec' | 'apiAuthFailuresPerMin' | 'visitorChecksPerSec' | 'scryptMaxInFlight' | 'scryptMaxInFlightPerIp'>;

export function apiLimits(config: LimitsConfig): ApiLimits {
  return {
    requests: new IpRateLimiter(config.apiRequestsPerSec, config.apiRequestsPerSec * 2),
    visitorChecks: new IpRateLimiter(config.visitorChecksPerSec, config.visitorChecksPerSec * 2),
    auth: new AuthGate({
      failuresPerMin: config.apiAuthFailuresPerMin,
      maxScryptInFlight: config.scryptMaxInFlight,
      maxScryptInFlightPerIp: config.scryptMaxInFlightPerIp,
    }),
  };
}

/** The client's address (read synchronously: uWS requests die at the first await). */
export function requestIp(ctx: RelayContext, res: HttpResponse, req: HttpRequest): string {
  return clientIp(Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('x-forwarded-for'), ctx.config.trustProxy);
}

/** Counts an API request against its address; answers 429 and returns false when over the limit. */
export function admitApiRequest(ctx: RelayContext, res: HttpResponse, req: HttpRequest): boolean {
  const ip = requestIp(ctx, res, req);
  if (ctx.apiLimits.requests.take(ip)) return true;
  ctx.metrics.counters.rate_limited_total++;
  const retry = ctx.apiLimits.requests.retryAfterSec(ip);
  sendError(pending(res), 'rateLimited', 'too many API requests from this address', { 'retry-after': String(retry) });
  return false;
}
