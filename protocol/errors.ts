/**
 * The one table of error codes: WebSocket close codes and HTTP statuses, each with
 * a machine-readable reason. Documented in docs/protocol.md.
 */
export const Close = {
  normal: { code: 1000, reason: 'normal' },
  tooBigNative: { code: 1009, reason: 'too_big' },
  serviceRestart: { code: 1012, reason: 'service_restart' },
  badMessage: { code: 4000, reason: 'bad_message' },
  tokenExpired: { code: 4001, reason: 'token_expired' },
  forbidden: { code: 4003, reason: 'forbidden' },
  visitorDeleted: { code: 4004, reason: 'visitor_deleted' },
  slowConsumer: { code: 4008, reason: 'slow_consumer' },
  tooBig: { code: 4009, reason: 'too_big' },
  overloaded: { code: 4013, reason: 'overloaded' },
  rateLimited: { code: 4029, reason: 'rate_limited' },
} as const;
export type CloseName = keyof typeof Close;

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
