/** `GET /v1/visitor?key=<publicKey>[&vid=<visitorId>&vt=<visitorToken>][&tab=<tabId>]` */
import type { WebSocketBehavior } from 'uWebSockets.js';
import { ID_PATTERN, isKnownFrameKind, parseVisitorMessage } from '../../protocol/index.ts';
import { originAllowed } from '../auth/origin.ts';
import { newTabId, newVisitorId, verifyVisitorToken, visitorToken } from '../auth/visitorToken.ts';
import type { RelayContext } from '../context.ts';
import { clientIp } from '../http/clientIp.ts';
import { readUpgrade } from '../http/upgradeRequest.ts';
import { TokenBucket } from '../limits/tokenBucket.ts';
import { SessionRouter } from '../sessions/router.ts';
import { closeWith, sendJson } from '../sessions/send.ts';
import type { TabData } from '../sessions/types.ts';
import { admitVisitor } from './admitVisitor.ts';
import { guarded, readControl } from './controlText.ts';
import { refuseUpgrade } from './refuse.ts';

export function visitorBehavior(ctx: RelayContext): WebSocketBehavior<TabData> {
  const { config, metrics, router, log } = ctx;
  return {
    // uWS drops a frame over its limit with a bare TCP close (1006, no reason). A margin above our own
    // limit lets a moderately oversized frame get a proper 4009 close; a wildly oversized one is cut off.
    maxPayloadLength: config.maxPayloadBytes + Math.max(64 * 1024, Math.floor(config.maxPayloadBytes / 8)),
    // Visitors receive only small control messages.
    maxBackpressure: 1024 * 1024,
    idleTimeout: config.idleTimeoutSec,
    sendPingsAutomatically: true,

    upgrade: async (res, req, context) => {
      const u = readUpgrade(res, req, context);
      try {
        const admitted = await admitVisitor(ctx, u.query, u.origin);
        if (!admitted.ok) return refuseUpgrade(u, metrics, admitted.name, admitted.message);
        const { account, visitorId } = admitted;
        const askedTab = u.query.get('tab');
        const tabId = askedTab && ID_PATTERN.test(askedTab) ? askedTab : newTabId();
        if (u.aborted) return;
        const ip = clientIp(u.ip, u.forwardedFor, config.trustProxy);
        if (!u.query.get('vid') && !ctx.clientLimits.newVisitors.take(ip)) {
          metrics.counters.rate_limited_total++;
          return refuseUpgrade(u, metrics, 'rateLimited', 'too many new visitors from this address');
        }
        if (!ctx.ipConnections.tryAcquire(ip)) return refuseUpgrade(u, metrics, 'tooManyConnections', 'too many connections from this address');
        const data: TabData = {
          kind: 'visitor',
          ip,
          closed: false,
          msgs: new TokenBucket(config.visitorMsgsPerSec, config.visitorMsgsPerSec * 2),
          bytes: new TokenBucket(config.visitorBytesPerSec, Math.max(config.visitorBytesPerSec, config.maxPayloadBytes * 2)),
          account,
          visitorId,
          tabId,
          topic: SessionRouter.topic(account.id, visitorId, tabId),
          url: '',
          title: '',
          agents: new Set(),
          lastActive: Date.now(),
          lastSnapshotRequest: 0,
          lastTouch: performance.now(),
        };
        u.res.cork(() => u.res.upgrade(data, u.wsKey, u.wsProtocol, u.wsExtensions, u.context));
      } catch (err) {
        log.error({ err: (err as Error).message }, 'visitor upgrade failed');
        refuseUpgrade(u, metrics, 'internal', 'internal error');
      }
    },

    open: (ws) => {
      const tab = ws.getUserData();
      tab.ws = ws;
      router.addTab(tab);
      sendJson(ws, tab, { t: 'welcome', visitorId: tab.visitorId, visitorToken: visitorToken(ctx.relaySecret, tab.account.id, tab.visitorId), tabId: tab.tabId });
    },

    message: (ws, message, isBinary) => {
      const tab = ws.getUserData();
      if (tab.closed) return;
      try {
        const size = message.byteLength;
        const now = performance.now();
        if (!tab.msgs.take(1, now) || !tab.bytes.take(size, now)) {
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
          if (!isKnownFrameKind(kind)) {
            metrics.counters.frames_rejected_total++;
            return closeWith(ws, tab, 'badMessage', `unknown frame kind ${kind}`);
          }
          metrics.counters.frames_in_total++;
          metrics.counters.frame_bytes_in_total += size;
          if (tab.agents.size === 0) return;
          ctx.app.publish(tab.topic, message, true, false);
          const n = router.afterPublish(tab);
          metrics.counters.frames_delivered_total += n;
          metrics.counters.frame_bytes_delivered_total += n * size;
          return;
        }
        const msg = readControl(ws, tab, message, metrics, parseVisitorMessage);
        if (msg) router.onVisitorMessage(tab, msg);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'visitor message handler failed');
        closeWith(ws, tab, 'badMessage', 'internal error handling the message');
      }
    },

    close: (ws) => {
      const tab = ws.getUserData();
      tab.closed = true;
      guarded(log, 'visitor close handler', () => {
        ctx.ipConnections.release(tab.ip);
        router.removeTab(tab);
      });
    },
  };
}
