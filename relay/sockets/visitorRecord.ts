/**
 * Visitor messages about the visitor's stored record rather than its sessions: `identify`,
 * `code-request` and `forget` (erasure). They go to the metadata and erasure services; the session
 * router never sees them.
 */
import type { VisitorToRelay } from '../../protocol/index.ts';
import type { RelayContext } from '../context.ts';
import { closeWith, sendMessage } from '../sessions/send.ts';
import type { TabData, Visitor } from '../sessions/types.ts';

/** Handles the message if it is one of these; returns false for the router's messages. */
export function handleVisitorRecordMessage(ctx: RelayContext, tab: TabData, v: Visitor, msg: VisitorToRelay): boolean {
  switch (msg.t) {
    case 'identify':
      // Kept on the session too: the activity log masks this user id, the directory matches it.
      if (msg.userId !== undefined) v.userId = msg.userId;
      if (msg.email !== undefined) v.email = msg.email;
      ctx.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId, userId: msg.userId, name: msg.name, email: msg.email });
      ctx.cluster?.visitorChanged(v);
      return true;
    case 'code-request': {
      ctx.lookupCodes.issue(v.account.id, v.visitorId).then(({ code, expiresAt }) => {
        ctx.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId, lookupCode: code, lookupCodeExpiresAt: expiresAt });
        sendMessage(tab.ws, tab, { t: 'code', code, expiresAt: expiresAt.toISOString() });
      }, (err) => ctx.clientLimits.log.error(tab.ip, { err: (err as Error).message }, 'lookup code failed'));
      return true;
    }
    case 'forget': {
      // An erasure writes `data_deleted`: budgeted, since a script can connect and forget in a loop.
      const refusal = ctx.clientLimits.activity.take(tab.ip, v.account.id);
      if (refusal) {
        closeWith(tab.ws, tab, refusal.name, refusal.message);
        return true;
      }
      ctx.erasure.erase(v.account.id, { visitorIds: [v.visitorId] }, 'the visitor').catch((err) => {
        ctx.clientLimits.log.error(tab.ip, { err: (err as Error).message }, 'visitor erasure failed');
      });
      return true;
    }
    default:
      return false;
  }
}
