/**
 * A visitor tab's two budgets, messages and bytes a second, in one object made at its first
 * message. The same rule as two TokenBuckets taken in turn (messages first; bytes only when a
 * message token was there), in about half the heap: two buckets were two objects with four boxed
 * doubles (~180 bytes per tab that ever sent anything), this is one object with three.
 */

/** One per relay (visitorSocket.ts): the rates and bursts every tab's budget refills with. */
export interface TabRateLimits {
  readonly msgsPerSec: number;
  readonly msgBurst: number;
  readonly bytesPerSec: number;
  readonly byteBurst: number;
}

export class TabRate {
  private msgs: number;
  private bytes: number;
  /** performance.now() of the last take: both budgets are refilled up to it. */
  private last: number;

  /** Starts full, as a budget made earlier would be by a tab's first message. */
  constructor(
    private readonly limits: TabRateLimits,
    now: number,
  ) {
    this.msgs = limits.msgBurst;
    this.bytes = limits.byteBurst;
    this.last = now;
  }

  /** Takes one message and `size` bytes; false means over a limit. */
  take(size: number, now: number): boolean {
    const l = this.limits;
    const sec = (now - this.last) / 1000;
    this.last = now;
    // Refilling both at every take is the same as refilling each when next taken (capped sums).
    this.msgs = Math.min(l.msgBurst, this.msgs + sec * l.msgsPerSec);
    this.bytes = Math.min(l.byteBurst, this.bytes + sec * l.bytesPerSec);
    if (this.msgs < 1) return false;
    this.msgs -= 1;
    if (this.bytes < size) return false;
    this.bytes -= size;
    return true;
  }
}
