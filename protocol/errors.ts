/**
 * The one table of error codes: WebSocket close codes and HTTP statuses, each with
 * a machine-readable reason. Documented in docs/protocol.md.
 */
export const Close = {
  normal: { code: 1000, reason: 'normal' },
  serviceRestart: { code: 1012, reason: 'service_restart' },
  badMessage: { code: 4000, reason: 'bad_message' },
  tokenExpired: { code: 4001, reason: 'token_expired' },
  visitorDeleted: { code: 4004, reason: 'visitor_deleted' },
  slowConsumer: { code: 4008, reason: 'slow_consumer' },
  tooBig: { code: 4009, reason: 'too_big' },
  overloaded: { code: 4013, reason: 'overloaded' },
  rateLimited: { code: 4029, reason: 'rate_limited' },
} as const;
export type CloseName = keyof typeof Close;
/**
 * The socket layer's "closed without a close frame" (RFC 6455): never sent by the relay, so not in
 * the table; the embed reports it when a connect was refused before the socket opened.
 */
export const ABNORMAL_CLOSE_CODE = 1006;

/**
 * Close codes after which each client must not reconnect on its own: retrying cannot help (a bad
 * or too big message would be sent again; a deleted visitor's id is refused; an agent's token expired).
 */
export const VISITOR_FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([Close.badMessage.code, Close.visitorDeleted.code, Close.tooBig.code]);
export const AGENT_FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([Close.tokenExpired.code, Close.visitorDeleted.code]);

/**
 * Why a visitor's connect was refused (`/v1/visitor/check`): the embed acts on these, so they are
 * named on their own (a property read of the table below would bundle all of it into the embed).
 */
export const MISSING_KEY = 'missing_key';
export const VISITOR_TOKEN_INVALID = 'visitor_token_invalid';
const UNKNOWN_KEY = 'unknown_key';
const FORBIDDEN_ORIGIN = 'forbidden_origin';
/** Of those, the refusals that retrying cannot change: the embed stops trying. */
export const VISITOR_PERMANENT_REFUSALS: ReadonlySet<string> = new Set([MISSING_KEY, UNKNOWN_KEY, FORBIDDEN_ORIGIN]);

export const HttpError = {
  badRequest: { status: 400, code: 'bad_request' },
  tokenInUrl: { status: 400, code: 'token_in_url' },
  missingKey: { status: 400, code: MISSING_KEY },
  unknownKey: { status: 401, code: UNKNOWN_KEY },
  unauthorized: { status: 401, code: 'unauthorized' },
  invalidToken: { status: 401, code: 'invalid_token' },
  tokenExpired: { status: 401, code: 'token_expired' },
  visitorTokenInvalid: { status: 401, code: VISITOR_TOKEN_INVALID },
  forbiddenOrigin: { status: 403, code: FORBIDDEN_ORIGIN },
  notFound: { status: 404, code: 'not_found' },
  methodNotAllowed: { status: 405, code: 'method_not_allowed' },
  tooBig: { status: 413, code: 'too_big' },
  unsupportedMediaType: { status: 415, code: 'unsupported_media_type' },
  tooManyConnections: { status: 429, code: 'too_many_connections' },
  rateLimited: { status: 429, code: 'rate_limited' },
  internal: { status: 500, code: 'internal' },
  shuttingDown: { status: 503, code: 'shutting_down' },
  overloaded: { status: 503, code: 'overloaded' },
} as const;
export type HttpErrorName = keyof typeof HttpError;

/** The JSON body of every HTTP error. */
export interface ErrorBody {
  error: { code: string; message: string };
}
