/**
 * Token buckets per client IP, for the REST API: requests per second, and failed authentications
 * (each one costs a scrypt run) per minute. The map is bounded: past `maxIps` entries, buckets
 * that have refilled completely (idle IPs) are dropped, and if that is not enough, all of them.
 */
import { TokenBucket } from './tokenBucket.ts';

export class IpRateLimiter {
  private buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly perSec: number,
    private readonly burst: number,
    private readonly maxIps = 100_000,
  ) {}

  /** Takes one token for this IP; false means over the limit. */
  take(ip: string, now = performance.now()): boolean {
    return this.bucket(ip, now).take(1, now);
  }

  /** Gives back a token taken with `take` (a reservation that did not count). */
  refund(ip: string, now = performance.now()): void {
    this.buckets.get(ip)?.refund(1, now);
  }

  /** Whether this IP has a token left, without taking it. */
  allows(ip: string, now = performance.now()): boolean {
    const b = this.buckets.get(ip);
    return !b || b.available(now) >= 1;
  }

  /** Seconds until this IP has a token again (at least 1). */
  retryAfterSec(ip: string, now = performance.now()): number {
    const b = this.buckets.get(ip);
    const missing = b ? Math.max(0, 1 - b.available(now)) : 0;
    return Math.max(1, Math.ceil(missing / this.perSec));
  }

  get size(): number {
    return this.buckets.size;
  }

  private bucket(ip: string, now: number): TokenBucket {
    let b = this.buckets.get(ip);
    if (!b) {
      if (this.buckets.size >= this.maxIps) this.prune(now);
      b = new TokenBucket(this.perSec, this.burst, now);
      this.buckets.set(ip, b);
    }
    return b;
  }

  private prune(now: number): void {
    for (const [ip, b] of this.buckets) if (b.available(now) >= this.burst) this.buckets.delete(ip);
    if (this.buckets.size >= this.maxIps) this.buckets.clear();
  }
}
