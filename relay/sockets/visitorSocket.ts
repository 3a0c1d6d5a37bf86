/** `GET /v1/visitor?key=<publicKey>[&vid=<visitorId>&vt=<visitorToken>][&tab=<tabId>]` */
import type { WebSocketBehavior } from 'uWebSockets.js';
import { ID_PATTERN, isRelayedFrameKind, parseVisitorMessage } from '../../protocol/index.ts';
import { newTabId, visitorToken } from '../auth/visitorToken.ts';
import type { RelayContext } from '../context.ts';
import { clientIp } from '../http/clientIp.ts';
import { readUpgrade, watchAborted, type UpgradeRequest } from '../http/upgradeRequest.ts';
import { TabRate, type TabRateLimits } from '../limits/tabRate.ts';
import { closeWith, sendMessage } from '../sessions/send.ts';
import { Tab } from '../sessions/tab.ts';
import type { TabData, VisitorSocketData } from '../sessions/types.ts';
import { admitVisitorNow, type Admission } from './admitVisitor.ts';
import { guarded, readControl } from './controlText.ts';
import { releaseIpSlot, upgradeWithIpSlot } from './ipSlot.ts';
import { handleVisitorRecordMessage } from './visitorRecord.ts';
import { refuseUpgrade } from './refuse.ts';
import { closeShed, shedVisitor } from './shedVisitor.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../../protocol/limits.ts';

export function visitorBehavior(ctx: RelayContext): WebSocketBehavior<VisitorSocketData> {
  const { config, metrics, router, log } = ctx;
  const publisher = router.publisher;
  const rateLimits: TabRateLimits = {
    msgsPerSec: config.visitorMsgsPerSec,
    msgBurst: config.visitorMsgsPerSec * 2,
    bytesPerSec: config.visitorBytesPerSec,
    byteBurst: Math.max(config.visitorBytesPerSec, config.maxPayloadBytes * 2),
  };
  // The embed sizes its frames to the default limit unless told otherwise: a relay with a lower one
  // would otherwise close every visitor whose snapshot falls between the two (`tooBig`), again at each reconnect.
  const frameLimit = config.maxPayloadBytes === DEFAULT_MAX_PAYLOAD_BYTES ? {} : { maxFrameBytes: config.maxPayloadBytes };
  /** The upgrade after admission's checks (`admitted` undefined: they threw `error`). Ends the gate's admission. */
  const finish = (u: UpgradeRequest, ip: string, admitted: Admission | undefined, error?: unknown): void => {
    try {
      if (!admitted) throw error;
      if (!admitted.ok) return refuseUpgrade(u, metrics, admitted.name, admitted.message);
      // Admission that waited on the store may end after shutdown began (and the store closed): no new tab then.
      if (ctx.state.shuttingDown) return refuseUpgrade(u, metrics, 'shuttingDown', 'relay is restarting');
      const { account, visitorId } = admitted;
      const askedTab = u.query.get('tab');
      const tabId = askedTab && ID_PATTERN.test(askedTab) ? askedTab : newTabId();
      if (u.aborted) return;
      const isNew = !u.query.get('vid');
      if (isNew && !ctx.clientLimits.newVisitors.take(ip)) {
        metrics.counters.rate_limited_total++;
        return refuseUpgrade(u, metrics, 'rateLimited', 'too many new visitors from this address');
      }
      const tab = new Tab(ip, account, visitorId, tabId);
      // Refused (connection cap) or gone: no visitor was created, so the new-visitor token goes back.
      if (!upgradeWithIpSlot(ctx, u, tab, { data: tab, returning: admitted.returning } satisfies VisitorSocketData) && isNew) ctx.clientLimits.newVisitors.refund(ip);
    } catch (err) {
      // A store outage fails every upgrade: budgeted per address like other client-caused lines.
      ctx.clientLimits.log.error(ip, { err: (err as Error).message }, 'visitor upgrade failed');
      refuseUpgrade(u, metrics, 'internal', 'internal error');
    } finally {
      ctx.clientLimits.admission.done();
    }
  };
  return {
    // uWS drops a frame over its limit with a bare TCP close (1006, no reason). A margin above our own
    // limit lets a moderately oversized frame get a proper 4009 close; a wildly oversized one is cut off.
    maxPayloadLength: config.maxPayloadBytes + Math.max(64 * 1024, Math.floor(config.maxPayloadBytes / 8)),
    // Visitors receive only small control messages.
    maxBackpressure: 1024 * 1024,
    idleTimeout: config.idleTimeoutSec,
    sendPingsAutomatically: true,

    upgrade: (res, req, context) => {
      const u = readUpgrade(res, req, context, config.trustProxy);
      const ip = clientIp(u.ip, u.forwardedFor, config.trustProxy);
      // Before any store look-up: a connect storm is shed here, cheaply (the address's share first).
      const gate = ctx.clientLimits.admission.enter(ip);
      if (!gate.ok) return shedVisitor(ctx, u, gate.retryAfterMs, gate.byAddress);
      let admitted: Admission | Promise<Admission>;
      try {
        admitted = admitVisitorNow(ctx, u.query, u.origin);
      } catch (err) {
        return finish(u, ip, undefined, err);
      }
      // A new visitor of a cached account is answered now, before the handler returns.
      if (!(admitted instanceof Promise)) return finish(u, ip, admitted);
      watchAborted(u); // answered later: uWS must tell us if the client goes meanwhile
      void admitted.then(
        (a) => finish(u, ip, a),
        (err: unknown) => finish(u, ip, undefined, err),
      );
    },

    open: (ws) => {
      const socketData = ws.getUserData();
      const init = socketData.data;
      if (init.kind === 'shed') return closeShed(ws, init);
      // Until now the user data was the upgrade's TabInit; the router completes it.
      // A returning visitor's token and tombstone key were computed at the upgrade: no second HMAC of either.
      const returning = socketData.returning;
      socketData.returning = undefined;
      // The account as this upgrade read it (once open, the tab reads the visitor's, maybe older).
      const account = init.account;
      const tab = router.openTab(init, ws, returning?.tombstoneKey);
      const token = returning?.visitorToken ?? visitorToken(ctx.relaySecret, account.id, tab.visitorId);
      sendMessage(ws, tab, { t: 'welcome', visitorId: tab.visitorId, visitorToken: token, tabId: tab.tabId, e2e: account.e2e ?? 'off', ...frameLimit });
    },

    message: (ws, message, isBinary) => {
      // A shed socket is closed in `open` (its data says closed), so this is a tab's.
      const tab = ws.getUserData().data as TabData;
      if (tab.closed) return;
      try {
        const size = message.byteLength;
        const now = performance.now();
        if (!(tab.rate ??= new TabRate(rateLimits, now)).take(size, now)) {
          metrics.counters.rate_limited_total++;
          return closeWith(ws, tab, 'rateLimited', 'too many messages');
        }
        router.heartbeat(tab, now);
        if (isBinary) {
          if (size > config.maxPayloadBytes) {
            metrics.counters.frames_rejected_total++;
            return closeWith(ws, tab, 'tooBig', `frames are limited to ${config.maxPayloadBytes} bytes`);
          }
          // The hot path: one byte read, then a verbatim publish. No parse, no copy, no cache.
          const kind = size > 0 ? new Uint8Array(message, 0, 1)[0] : -1;
          if (!isRelayedFrameKind(kind)) {
            metrics.counters.frames_rejected_total++;
            return closeWith(ws, tab, 'badMessage', `unknown frame kind ${kind}`);
          }
          metrics.counters.frames_in_total++;
          metrics.counters.frame_bytes_in_total += size;
          const n = publisher.publish(tab, message, true);
          metrics.counters.frames_delivered_total += n;
          metrics.counters.frame_bytes_delivered_total += n * size;
          return;
        }
        const msg = readControl(ws, tab, message, metrics, parseVisitorMessage);
        if (!msg) return;
        router.onVisitorMessage(tab, msg); // sessions: consent, control, page, tabs
        handleVisitorRecordMessage(ctx, tab, tab.visitor, msg); // the stored record: identify, code, forget
      } catch (err) {
        log.error({ err: (err as Error).message }, 'visitor message handler failed');
        closeWith(ws, tab, 'badMessage', 'internal error handling the message');
      }
    },

    close: (ws) => {
      const tab = ws.getUserData().data;
      if (tab.kind === 'shed') return;
      releaseIpSlot(ctx, tab);
      guarded(log, 'visitor close handler', () => {
        router.removeTab(tab as TabData);
      });
    },
  };
}
