/**
 * The failed-authentication budget per client address, shared by every way in (REST secret keys
 * and agent tokens, agent socket upgrades, the /metrics token), and the cap on scrypt runs in flight.
 *
 * A unit of the address's budget is reserved BEFORE a credential is verified and given back only
 * when it verifies. Checking a counter first and recording the failure after the (slow) check let
 * any number of concurrent bad keys through; reserving first means that, whatever the concurrency,
 * an address gets at most `failuresPerMin` failed verifications at once and then `failuresPerMin`
 * a minute. Scrypt runs (secret keys not in the verified cache) also need a slot: at most
 * `maxScryptInFlightPerIp` per address and `maxScryptInFlight` in all, refused (not queued) past it.
 */
import { IpRateLimiter } from '../limits/ipRateLimiter.ts';

export interface AuthGateOptions {
  failuresPerMin: number;
  maxScryptInFlight: number;
  maxScryptInFlightPerIp: number;
}

/** Why a verification was not even started: `rateLimited` is 429, `overloaded` is 503. */
export interface AuthRefusal {
  refused: 'rateLimited' | 'overloaded';
  message: string;
  retryAfterSec: number;
}

/** A reserved verification: settle it once with the outcome. */
export interface AuthTicket {
  settle(verified: boolean): void;
}

export function isRefusal<T extends object>(x: T | AuthRefusal): x is AuthRefusal {
  return 'refused' in x;
}

export class AuthGate {
  private readonly budget: IpRateLimiter;
  private readonly scryptByIp = new Map<string, number>();
  private scryptTotal = 0;
  /** The most scrypt runs ever in flight at once (for tests and the bench). */
  peakScryptInFlight = 0;
  /** The most scrypt runs ever in flight at once for one address. */
  peakScryptInFlightPerIp = 0;

  constructor(private readonly opts: AuthGateOptions) {
    this.budget = new IpRateLimiter(opts.failuresPerMin / 60, opts.failuresPerMin);
  }

  get scryptInFlight(): number {
    return this.scryptTotal;
  }

  /** Reserves one verification for this address; `scrypt` also takes an in-flight slot. */
  reserve(ip: string, scrypt: boolean): AuthTicket | AuthRefusal {
    if (scrypt) {
      if (this.scryptTotal >= this.opts.maxScryptInFlight) {
        return { refused: 'overloaded', message: 'too many key verifications in progress; retry shortly', retryAfterSec: 1 };
      }
      if ((this.scryptByIp.get(ip) ?? 0) >= this.opts.maxScryptInFlightPerIp) {
        return { refused: 'rateLimited', message: 'too many key verifications in progress from this address; retry shortly', retryAfterSec: 1 };
      }
    }
    if (!this.budget.take(ip)) {
      return {
        refused: 'rateLimited',
        message: 'too many failed authentications from this address; retry later',
        retryAfterSec: this.budget.retryAfterSec(ip),
      };
    }
    if (scrypt) this.enter(ip);
    let settled = false;
    return {
      settle: (verified) => {
        if (settled) return;
        settled = true;
        if (verified) this.budget.refund(ip);
        if (scrypt) this.leave(ip);
      },
    };
  }

  private enter(ip: string): void {
    this.scryptTotal++;
    const n = (this.scryptByIp.get(ip) ?? 0) + 1;
    this.scryptByIp.set(ip, n);
    this.peakScryptInFlight = Math.max(this.peakScryptInFlight, this.scryptTotal);
    this.peakScryptInFlightPerIp = Math.max(this.peakScryptInFlightPerIp, n);
  }

  private leave(ip: string): void {
    this.scryptTotal--;
    const n = this.scryptByIp.get(ip) ?? 0;
    if (n <= 1) this.scryptByIp.delete(ip);
    else this.scryptByIp.set(ip, n - 1);
  }
}
