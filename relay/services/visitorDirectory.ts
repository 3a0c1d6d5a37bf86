/**
 * Who is online, matching what: the one place handlers ask about presence. It reads this relay's
 * session router (tabs and all) and, in cluster mode, the replica of the cluster's presence
 * (relay/cluster/presence.ts), so it never asks other relays per request.
 */
import type { SessionRouter } from '../sessions/router.ts';

/** Visitors online on other relays (cluster mode). */
export interface RemotePresence {
  online(accountId: string, match?: VisitorMatch): string[];
  isOnline(accountId: string, visitorId: string): boolean;
}

export interface VisitorMatch {
  visitorIds?: string[];
  userIds?: string[];
  emails?: string[];
}

export class VisitorDirectory {
  /** Set in cluster mode. */
  remote?: RemotePresence;

  constructor(private readonly router: SessionRouter) {}

  /** Online visitor ids of an account, all of them or those matching ids, user ids or emails. */
  online(accountId: string, match?: VisitorMatch): string[] {
    const out: string[] = [];
    const ids = new Set(match?.visitorIds ?? []);
    const users = new Set(match?.userIds ?? []);
    const emails = new Set((match?.emails ?? []).map((e) => e.toLowerCase()));
    for (const v of this.router.visitors.values()) {
      if (v.account.id !== accountId || v.tabs.size === 0) continue;
      if (!match || ids.has(v.visitorId) || (v.userId !== undefined && users.has(v.userId)) || (v.email !== undefined && emails.has(v.email.toLowerCase()))) {
        out.push(v.visitorId);
      }
    }
    if (!this.remote) return out;
    const here = new Set(out);
    for (const id of this.remote.online(accountId, match)) if (!here.has(id)) out.push(id);
    return out;
  }

  isOnline(accountId: string, visitorId: string): boolean {
    return (this.router.visitorOf(accountId, visitorId)?.tabs.size ?? 0) > 0 || !!this.remote?.isOnline(accountId, visitorId);
  }
}
