/**
 * Visitor admission under a connect storm (every visitor of a restarted relay reconnecting at once):
 * at most `perSec` visitor sockets a second (burst `perSec`) and at most `maxPending` upgrades waiting
 * on the store are admitted. The others are shed: their socket is opened only to be closed at once
 * with `4503 try_again_later` and a retry-after (protocol/errors.ts), which costs no store look-up,
 * no metadata write and no per-visitor state. Nothing queues: a shed visitor waits on its own side.
 *
 * Fairness: each client address (an IPv6 /64 is one, see budgetKey) has its own share,
 * `perIpPerSec` a second (burst as many), charged BEFORE the global budget. An address over its
 * share is shed the same way without taking from the global budget, so one address storming cannot
 * spend it and shed everyone else. A connect the global budget sheds gives its address's unit back:
 * the share counts admissions, not attempts.
 *
 * The retry-after spreads the herd: each visitor shed by the global budget is told the next free slot
 * of a schedule that runs at the admitted rate (one number, no per-visitor state), so the shed ones
 * come back about as fast as they can be admitted instead of all at once. One shed for its address's
 * share is told when that share has room again (at least the minimum). The embed adds its own jitter.
 */
import { ADMISSION_RETRY_AFTER_MAX_MS, ADMISSION_RETRY_AFTER_MIN_MS } from '../../protocol/index.ts';
import { IpRateLimiter } from './ipRateLimiter.ts';
import { TokenBucket } from './tokenBucket.ts';

/** `byAddress`: shed for the address's share, not the global budget. */
export type AdmissionResult = { ok: true } | { ok: false; retryAfterMs: number; byAddress: boolean };
/** One object for every admission (the common answer allocates nothing). */
const ADMITTED: AdmissionResult = Object.freeze({ ok: true });

export class AdmissionGate {
  private readonly bucket: TokenBucket;
  private readonly perIp: IpRateLimiter;
  private pending = 0;
  /** performance.now() of the last slot handed out to a shed visitor. */
  private lastSlot = 0;

  constructor(
    private readonly perSec: number,
    private readonly maxPending: number,
    perIpPerSec: number,
    now = performance.now(),
  ) {
    this.bucket = new TokenBucket(perSec, perSec, now);
    this.perIp = new IpRateLimiter(perIpPerSec, perIpPerSec);
  }

  /** Upgrades admitted and not finished yet (waiting on the store). */
  get inProgress(): number {
    return this.pending;
  }

  /**
   * Admits one visitor upgrade from client address `ip` (the caller must call `done()` when it
   * finishes, whatever happens), or returns how long the visitor should wait before trying again, in ms.
   */
  enter(ip: string, now = performance.now()): AdmissionResult {
    // The address's share first: over it, the global budget is not touched.
    if (!this.perIp.take(ip, now)) {
      return { ok: false, retryAfterMs: Math.min(Math.max(this.perIp.waitMs(ip, now), ADMISSION_RETRY_AFTER_MIN_MS), ADMISSION_RETRY_AFTER_MAX_MS), byAddress: true };
    }
    if (this.pending < this.maxPending && this.bucket.take(1, now)) {
      this.pending++;
      return ADMITTED;
    }
    this.perIp.refund(ip, now);
    // Past the longest retry-after the schedule is full: those visitors are told the longest and may be shed again.
    this.lastSlot = Math.min(Math.max(this.lastSlot, now + ADMISSION_RETRY_AFTER_MIN_MS) + 1000 / this.perSec, now + ADMISSION_RETRY_AFTER_MAX_MS);
    return { ok: false, retryAfterMs: Math.ceil(this.lastSlot - now), byAddress: false };
  }

  done(): void {
    this.pending--;
  }
}
