/** A token bucket: `rate` tokens a second, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private rate: number, private burst: number, now = performance.now()) {
    this.tokens = burst;
    this.last = now;
  }

  /** Tokens available now, without taking any. */
  available(now = performance.now()): number {
    return Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
  }

  /** Takes `n` tokens if there are enough; false means over the limit. */
  take(n = 1, now = performance.now()): boolean {
    this.tokens = this.available(now);
    this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Gives back `n` tokens taken for something that turned out not to count (never above `burst`). */
  refund(n = 1, now = performance.now()): void {
    this.tokens = Math.min(this.burst, this.available(now) + n);
    this.last = now;
  }
}
