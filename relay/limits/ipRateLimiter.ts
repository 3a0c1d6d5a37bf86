/**
 * Token buckets per client address (or per account id): REST requests, failed authentications,
 * new visitors, logged actions. Addresses are keyed by `budgetKey` (an IPv6 /64 is one client).
 *
 * The map is bounded (`maxKeys`) without ever forgetting a debt: forgetting a bucket in deficit
 * would hand a locked-out attacker a fresh budget (the old code cleared the whole map when full).
 * Past the bound, full buckets (back at capacity, so indistinguishable from new ones) are evicted,
 * least recently used first; if every bucket is in deficit, new keys are refused until the first
 * one refills (computed once, so a flood of new keys does not rescan the map each time).
 */
import { budgetKey } from './budgetKey.ts';
import { TokenBucket } from './tokenBucket.ts';

export class IpRateLimiter {
  /** Least recently used first (a Map keeps insertion order; a use re-inserts). */
  private buckets = new Map<string, TokenBucket>();
  /** While every bucket is in deficit: when the first one will be full again. */
  private noRoomUntil = -Infinity;

  constructor(
    private readonly perSec: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one token for this address; false means over the limit (or no room for a new address). */
  take(ip: string, now = performance.now()): boolean {
    return this.bucket(budgetKey(ip), now)?.take(1, now) ?? false;
  }

  /** Gives back a token taken with `take` (a reservation that did not count). */
  refund(ip: string, now = performance.now()): void {
    this.buckets.get(budgetKey(ip))?.refund(1, now);
  }

  /** Whether this address has a token left, without taking it. */
  allows(ip: string, now = performance.now()): boolean {
    const b = this.buckets.get(budgetKey(ip));
    return b ? b.available(now) >= 1 : this.buckets.size < this.maxKeys || now >= this.noRoomUntil;
  }

  /** Seconds until this address has a token again (at least 1). */
  retryAfterSec(ip: string, now = performance.now()): number {
    return Math.max(1, Math.ceil(this.waitMs(ip, now) / 1000));
  }

  /** Milliseconds until this address has a token again (0: it has one now). */
  waitMs(ip: string, now = performance.now()): number {
    const b = this.buckets.get(budgetKey(ip));
    return Math.ceil(b ? (Math.max(0, 1 - b.available(now)) / this.perSec) * 1000 : Math.max(0, this.noRoomUntil - now));
  }

  get size(): number {
    return this.buckets.size;
  }

  private bucket(key: string, now: number): TokenBucket | undefined {
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // most recently used: to the end
    } else {
      if (this.buckets.size >= this.maxKeys && !this.makeRoom(now)) return undefined;
      b = new TokenBucket(this.perSec, this.burst, now);
    }
    this.buckets.set(key, b);
    return b;
  }

  /** Evicts full buckets, least recently used first, down to 15/16 of the bound (one scan frees many slots). */
  private makeRoom(now: number): boolean {
    if (now < this.noRoomUntil) return false;
    const target = Math.floor((this.maxKeys * 15) / 16);
    let soonestFullMs = Infinity;
    for (const [key, b] of this.buckets) {
      const missing = this.burst - b.available(now);
      if (missing <= 0) {
        this.buckets.delete(key);
        if (this.buckets.size <= target) break;
      } else {
        soonestFullMs = Math.min(soonestFullMs, (missing / this.perSec) * 1000);
      }
    }
    if (this.buckets.size < this.maxKeys) return true;
    this.noRoomUntil = now + soonestFullMs;
    return false;
  }
}
