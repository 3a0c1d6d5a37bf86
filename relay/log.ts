/**
 * Structured logs. Keys, tokens and secrets are redacted by path; page content is
 * never passed to the logger at all (frames are forwarded, not inspected). IPs are
 * logged at debug level only.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'secretKey', '*.secretKey', 'token', '*.token', 'visitorToken', '*.visitorToken',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'relaySecret', '*.relaySecret', 'password', '*.password',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { svc: 'cobrowse-relay' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination,
  );
}
