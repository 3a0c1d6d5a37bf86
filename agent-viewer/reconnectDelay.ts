/** The agent socket's wait before reconnecting (connection.ts), pure so it is tested with a chosen random. */
export const RECONNECT_BASE_MS = 500;
export const RECONNECT_CAP_MS = 15_000;

/**
 * 0.5 s, 1 s, 2 s … capped at 15 s, each between half and all of that (jitter, so a relay restart is
 * not a thundering herd, while an agent never retries sooner than half the step).
 */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** attempt);
  return Math.round(cap / 2 + (random() * cap) / 2);
}
