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
  /** Admission shed the visitor (connect storm): the `error` message before the close carries `retryAfterMs`. */
  tryAgainLater: { code: 4503, reason: 'try_again_later' },
  rateLimited: { code: 4029, reason: 'rate_limited' },
} as const;
export type CloseName = keyof typeof Close;

/**
 * Close codes after which each client must not reconnect on its own: retrying cannot help (a bad
 * or too big message would be sent again; a deleted visitor's id is refused; an agent's token expired).
 */
export const VISITOR_FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([Close.badMessage.code, Close.visitorDeleted.code, Close.tooBig.code]);
export const AGENT_FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([Close.tokenExpired.code, Close.visitorDeleted.code]);

/** Bounds of the `retryAfterMs` a shed visitor is told (close 4503); the embed adds jitter on top. */
export const ADMISSION_RETRY_AFTER_MIN_MS = 1000;
export const ADMISSION_RETRY_AFTER_MAX_MS = 30_000;

export const HttpError = {
  badRequest: { status: 400, code: 'bad_request' },
  tokenInUrl: { status: 400, code: 'token_in_url' },
  missingKey: { status: 400, code: 'missing_key' },
  unknownKey: { status: 401, code: 'unknown_key' },
  unauthorized: { status: 401, code: 'unauthorized' },
  invalidToken: { status: 401, code: 'invalid_token' },
  tokenExpired: { status: 401, code: 'token_expired' },
  visitorTokenInvalid: { status: 401, code: 'visitor_token_invalid' },
  forbiddenOrigin: { status: 403, code: 'forbidden_origin' },
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
