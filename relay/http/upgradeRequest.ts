/** Everything an upgrade handler needs, read synchronously (uWS requests die at the first await). */
import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';

export interface UpgradeRequest {
  res: HttpResponse;
  context: us_socket_context_t;
  wsKey: string;
  wsProtocol: string;
  wsExtensions: string;
  origin: string;
  forwardedFor: string;
  query: URLSearchParams;
  ip: string;
  aborted: boolean;
}

/**
 * Reads the request. It does not watch for the client going away: a handler that answers after it
 * returns (after an await) must call `watchAborted` first; one that answers before it returns needs not.
 * `trustProxy`: the X-Forwarded-For header is read only when some proxy is trusted (clientIp.ts).
 */
export function readUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, trustProxy: readonly string[]): UpgradeRequest {
  return {
    res,
    context,
    wsKey: req.getHeader('sec-websocket-key'),
    wsProtocol: req.getHeader('sec-websocket-protocol'),
    wsExtensions: req.getHeader('sec-websocket-extensions'),
    origin: req.getHeader('origin'),
    forwardedFor: trustProxy.length > 0 ? req.getHeader('x-forwarded-for') : '',
    query: new URLSearchParams(req.getQuery() ?? ''),
    ip: Buffer.from(res.getRemoteAddressAsText()).toString(),
    aborted: false,
  };
}

/** Before a handler returns unanswered: uWS requires it, and `u.aborted` then says the response is gone. */
export function watchAborted(u: UpgradeRequest): void {
  u.res.onAborted(() => {
    u.aborted = true;
  });
}

/** Query parameters that look like a credential; agent tokens must never ride in the URL. */
export const TOKEN_QUERY_PARAMS = ['token', 'access_token', 'jwt', 'bearer', 'authorization', 'auth'];
