/**
 * Where each side connects: socket paths, the agent socket's sub-protocol and the prefix its
 * token rides under. The relay registers these paths; the embed, the viewer, the benchmark and
 * the tests build URLs from them. No other file may spell a socket path (test/protocol.boundaries).
 */

/** The visitor socket (one per browser tab): `?key=<publicKey>[&vid=…&vt=…][&tab=…]`. */
export const VISITOR_SOCKET_PATH = '/v1/visitor';
/** Why a visitor upgrade failed (browsers hide the status): same query as the socket. */
export const VISITOR_CHECK_PATH = '/v1/visitor/check';
/** The agent socket; the token rides in Sec-WebSocket-Protocol, never in the URL. */
export const AGENT_SOCKET_PATH = '/v1/agent';
/** Prefix of every REST route (protocol/restApi.ts describes them). */
export const API_PREFIX = '/api/v1';
/** Visitor records: list and search (GET), one by id (GET, DELETE `/:id`), erasure (POST `/delete`). */
export const VISITORS_API_PATH = `${API_PREFIX}/visitors`;
/** The generated OpenAPI 3.1 document of the REST API. */
export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;

/** Sub-protocol negotiated on the agent socket; the token rides beside it as `bearer.<jwt>`. */
export const AGENT_SUBPROTOCOL = 'cobrowse.v1';
export const BEARER_PREFIX = 'bearer.';

/** `Sec-WebSocket-Protocol` values an agent offers: the sub-protocol and its token. */
export function agentProtocols(token: string): string[] {
  return [AGENT_SUBPROTOCOL, BEARER_PREFIX + token];
}

/** `ws:`/`wss:` URL of a socket path on the relay at `origin` (an http(s) URL or Location). */
export function socketUrl(relay: { protocol: string; host: string }, path: string): string {
  return `${relay.protocol === 'https:' ? 'wss' : 'ws'}://${relay.host}${path}`;
}
