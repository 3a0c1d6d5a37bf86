/**
 * Reconnect delays: capped exponential backoff with full jitter, so a relay restart does not bring
 * every visitor back in the same instant. No DOM: tested in node with an injected random.
 */
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30_000;
/** Attempts past this add nothing (the cap is reached long before) and keep 2 ** n finite. */
export const MAX_ATTEMPT = 16;

/** The wait before reconnect attempt `attempt` (0 = first retry); `random` in [0, 1). */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, MAX_ATTEMPT));
}
