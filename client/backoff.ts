/**
 * When the visitor socket tries again (connection.ts), as pure functions so they are tested in Node
 * with a chosen random: capped exponential backoff with full jitter, and what the relay's
 * `/v1/visitor/check` answer after a failed connect means.
 */
import { VISITOR_PERMANENT_REFUSALS, VISITOR_TOKEN_INVALID } from '../protocol/errors.ts';

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30_000;
/** Attempts past this do not grow the delay further (and keep `2 ** attempt` small). */
export const MAX_BACKOFF_ATTEMPT = 16;

/** Full jitter: a relay restart does not bring every visitor back in the same instant. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, MAX_BACKOFF_ATTEMPT));
}


/**
 * - `stop`: refused for good (no key, unknown key, origin not allowed);
 * - `fresh`: our stored visitor token is not valid: forget the ids and connect at once with new ones;
 * - `retry`: anything else (unreachable, overloaded, an answer we do not know): back off.
 */
export type Diagnosis = 'stop' | 'fresh' | 'retry';

/** The refusal code in the check's answer: a 204 is no refusal; a body without `error.code` is unknown. */
export function checkRefusalCode(status: number, body: unknown): string | undefined {
  if (status === 204) return undefined;
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}

export function diagnose(code: string | undefined): Diagnosis {
  if (code && VISITOR_PERMANENT_REFUSALS.has(code)) return 'stop';
  if (code === VISITOR_TOKEN_INVALID) return 'fresh';
  return 'retry';
}
