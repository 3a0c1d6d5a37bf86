/**
 * Start-up steps that need JetStream (opening the presence and consent buckets and their watches) are
 * retried until a deadline instead of failing the relay at the first error. When a whole fleet restarts
 * at once, NATS is busy replaying the buckets to every relay and answers late: eight relays holding
 * 100,000 visitors, restarted together, failed to start with `TIMEOUT` (`npm run bench:host`).
 * NATS unreachable at start still fails at once (connection.ts).
 */
import type { Logger } from '../log.ts';

const FIRST_WAIT_MS = 250;
const MAX_WAIT_MS = 4000;

export async function retryUntil<T>(what: string, op: () => Promise<T>, log: Logger, deadlineMs: number): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      const left = until - Date.now();
      const message = (err as Error)?.message ?? String(err);
      if (left <= 0) throw new Error(`${what}: still failing after ${Math.round(deadlineMs / 1000)} s (CLUSTER_START_TIMEOUT_MS): ${message}`);
      // Jittered: relays restarted together should not retry together.
      const wait = Math.min(left, Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** attempt) * (0.5 + Math.random() / 2));
      log.warn({ err: message, retryInMs: Math.round(wait) }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
