/**
 * Budgets for activity-log entries that clients cause (an agent's session or control request, a
 * visitor's erasure, an admin's key rotation). Each such action takes one token from its client
 * address and one from its account before anything is written; when either is empty, or the
 * pending activity queue is over its high-water mark, the action is refused at the source.
 * The log itself never drops an entry to make room.
 */
import type { CloseName } from '../../protocol/index.ts';
import type { Metrics } from '../metrics.ts';
import { IpRateLimiter } from './ipRateLimiter.ts';

export interface ActivityBudgetOptions {
  perIpPerMin: number;
  perAccountPerMin: number;
  /** True while the activity write-behind holds more than it should (backpressure). */
  backlogged: () => boolean;
  metrics: Metrics;
}

/** Why an action was refused: a close code from protocol's table, and a message for the client. */
export interface BudgetRefusal {
  name: Extract<CloseName, 'rateLimited' | 'overloaded'>;
  message: string;
}

export class ActivityBudget {
  private perIp: IpRateLimiter;
  private perAccount: IpRateLimiter;

  constructor(private o: ActivityBudgetOptions) {
    // Burst: one minute's worth, so a normal working pace never meets the limit.
    this.perIp = new IpRateLimiter(o.perIpPerMin / 60, o.perIpPerMin);
    this.perAccount = new IpRateLimiter(o.perAccountPerMin / 60, o.perAccountPerMin);
  }

  /** Takes a token from both scopes, or takes none and says why not. */
  take(ip: string, accountId: string, now = performance.now()): BudgetRefusal | undefined {
    let refusal: BudgetRefusal | undefined;
    if (this.o.backlogged()) refusal = { name: 'overloaded', message: 'the activity log is catching up; try again shortly' };
    // Address first: one address running out must not drain its account's budget.
    else if (!this.perIp.allows(ip, now)) refusal = { name: 'rateLimited', message: 'too many logged actions from this address' };
    else if (!this.perAccount.allows(accountId, now)) refusal = { name: 'rateLimited', message: 'too many logged actions for this account' };
    if (refusal) {
      this.o.metrics.counters.activity_refused_total++;
      return refusal;
    }
    this.perIp.take(ip, now);
    this.perAccount.take(accountId, now);
    return undefined;
  }
}
