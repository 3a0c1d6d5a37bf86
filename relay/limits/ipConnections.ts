/** Open sockets per client address (an IPv6 /64 counts as one, see budgetKey), capped. */
import { budgetKey } from './budgetKey.ts';

export class IpConnections {
  private counts = new Map<string, number>();
  constructor(private max: number) {}

  tryAcquire(address: string): boolean {
    const ip = budgetKey(address);
    const n = this.counts.get(ip) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(ip, n + 1);
    return true;
  }

  release(address: string): void {
    const ip = budgetKey(address);
    const n = this.counts.get(ip) ?? 0;
    if (n <= 1) this.counts.delete(ip);
    else this.counts.set(ip, n - 1);
  }
}
