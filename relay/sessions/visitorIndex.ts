/**
 * The relay's visitors, by account and then by visitor id. Two levels instead of one map keyed
 * by "account/visitor": that key string (a concatenation and its flattened copy, ~90 bytes) was
 * built and kept for every visitor.
 */
import type { Visitor } from './types.ts';

export class VisitorIndex {
  private readonly byAccount = new Map<string, Map<string, Visitor>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(accountId: string, visitorId: string): Visitor | undefined {
    return this.byAccount.get(accountId)?.get(visitorId);
  }

  set(v: Visitor): void {
    let ids = this.byAccount.get(v.account.id);
    if (!ids) this.byAccount.set(v.account.id, (ids = new Map()));
    if (!ids.has(v.visitorId)) this.count++;
    ids.set(v.visitorId, v);
  }

  delete(accountId: string, visitorId: string): boolean {
    const ids = this.byAccount.get(accountId);
    if (!ids?.delete(visitorId)) return false;
    this.count--;
    if (ids.size === 0) this.byAccount.delete(accountId);
    return true;
  }

  *values(): IterableIterator<Visitor> {
    for (const ids of this.byAccount.values()) yield* ids.values();
  }
}
