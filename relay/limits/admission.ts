/**
 * Visitor admission under a connect storm (every visitor of a restarted relay reconnecting at once):
 * at most `perSec` visitor sockets a second (burst `perSec`) and at most `maxPending` upgrades waiting
 * on the store are admitted. The others are shed: their socket is opened only to be closed at once
 * with `4503 try_again_later` and a retry-after (protocol/errors.ts), which costs no store look-up,
 * no metadata write and no per-visitor state. Nothing queues: a shed visitor waits on its own side.
 *
 * The retry-after spreads the herd: each shed visitor is told the next free slot of a schedule that
 * runs at the admitted rate (one number, no per-visitor state), so the shed ones come back about as
 * fast as they can be admitted instead of all at once. The embed adds its own jitter on top.
 */
import { ADMISSION_RETRY_AFTER_MAX_MS, ADMISSION_RETRY_AFTER_MIN_MS } from '../../protocol/index.ts';
import { TokenBucket } from './tokenBucket.ts';

export class AdmissionGate {
  private readonly bucket: TokenBucket;
  private pending = 0;
  /** performance.now() of the last slot handed out to a shed visitor. */
  private lastSlot = 0;

  constructor(
    private readonly perSec: number,
    private readonly maxPending: number,
  ) {
    this.bucket = new TokenBucket(perSec, perSec);
  }

  /** Upgrades admitted and not finished yet (waiting on the store). */
  get inProgress(): number {
    return this.pending;
  }

  /**
   * Admits one visitor upgrade (the caller must call `done()` when it finishes, whatever happens),
   * or returns how long the visitor should wait before trying again, in ms.
   */
  enter(now = performance.now()): { ok: true } | { ok: false; retryAfterMs: number } {
    if (this.pending < this.maxPending && this.bucket.take(1, now)) {
      this.pending++;
      return { ok: true };
    }
    // Past the longest retry-after the schedule is full: those visitors are told the longest and may be shed again.
    this.lastSlot = Math.min(Math.max(this.lastSlot, now + ADMISSION_RETRY_AFTER_MIN_MS) + 1000 / this.perSec, now + ADMISSION_RETRY_AFTER_MAX_MS);
    return { ok: false, retryAfterMs: Math.ceil(this.lastSlot - now) };
  }

  done(): void {
    this.pending--;
  }
}
