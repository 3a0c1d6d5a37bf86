/**
 * Rate limits of the REST API, per client IP: requests per second for every `/api/` call, and
 * failed authentications per minute. A locked-out address gets 429 before its key is checked, so
 * bad keys cannot make the relay run scrypt without bound.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { RelayContext } from '../context.ts';
import { IpRateLimiter } from '../limits/ipRateLimiter.ts';
import { clientIp } from './clientIp.ts';
import { pending, sendError, type Pending } from './respond.ts';

export interface ApiLimits {
  requests: IpRateLimiter;
  authFailures: IpRateLimiter;
}

export function apiLimits(config: { apiRequestsPerSec: number; apiAuthFailuresPerMin: number }): ApiLimits {
  return {
    requests: new IpRateLimiter(config.apiRequestsPerSec, config.apiRequestsPerSec * 2),
    authFailures: new IpRateLimiter(config.apiAuthFailuresPerMin / 60, config.apiAuthFailuresPerMin),
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

/** Answers 429 (and returns true) when this address failed to authenticate too often. */
export function refuseIfLockedOut(ctx: RelayContext, p: Pending, ip: string): boolean {
  if (ctx.apiLimits.authFailures.allows(ip)) return false;
  ctx.metrics.counters.rate_limited_total++;
  const retry = ctx.apiLimits.authFailures.retryAfterSec(ip);
  sendError(p, 'rateLimited', 'too many failed authentications from this address; retry later', { 'retry-after': String(retry) });
  return true;
}

export function recordAuthFailure(ctx: RelayContext, ip: string): void {
  ctx.metrics.counters.http_auth_failures_total++;
  ctx.apiLimits.authFailures.take(ip);
}
