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

export function readUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): UpgradeRequest {
  const u: UpgradeRequest = {
    res,
    context,
    wsKey: req.getHeader('sec-websocket-key'),
    wsProtocol: req.getHeader('sec-websocket-protocol'),
    wsExtensions: req.getHeader('sec-websocket-extensions'),
    origin: req.getHeader('origin'),
    forwardedFor: req.getHeader('x-forwarded-for'),
    query: new URLSearchParams(req.getQuery() ?? ''),
    ip: Buffer.from(res.getRemoteAddressAsText()).toString(),
    aborted: false,
  };
  res.onAborted(() => {
    u.aborted = true;
  });
  return u;
}

/** Query parameters that look like a credential; agent tokens must never ride in the URL. */
export const TOKEN_QUERY_PARAMS = ['token', 'access_token', 'jwt', 'bearer', 'authorization', 'auth'];
