/**
 * `GET /v1/agent` with `Sec-WebSocket-Protocol: cobrowse.v1, bearer.<jwt>`.
 * The token is never accepted in the URL; the server selects `cobrowse.v1`.
 */
import type { WebSocketBehavior } from 'uWebSockets.js';
import { AGENT_SUBPROTOCOL, BEARER_PREFIX, MAX_CONTROL_BYTES, parseAgentMessage } from '../../protocol/index.ts';
import { verifyAgentToken } from '../auth/agentToken.ts';
import { originAllowed } from '../auth/origin.ts';
import type { RelayContext } from '../context.ts';
import { clientIp } from '../http/clientIp.ts';
import { readUpgrade, TOKEN_QUERY_PARAMS, watchAborted } from '../http/upgradeRequest.ts';
import { TokenBucket } from '../limits/tokenBucket.ts';
import { closeWith, sendMessage } from '../sessions/send.ts';
import type { AgentData, AgentInit } from '../sessions/types.ts';
import { guarded, readControl } from './controlText.ts';
import { releaseIpSlot, upgradeWithIpSlot } from './ipSlot.ts';
import { refuseUpgrade } from './refuse.ts';

const MAX_TIMER_MS = 2 ** 31 - 1;

export function agentBehavior(ctx: RelayContext): WebSocketBehavior<AgentData> {
  const { config, metrics, router, log } = ctx;
  const agentOrigins = [new URL(config.publicUrl).origin, ...config.agentOrigins];
  return {
    maxPayloadLength: MAX_CONTROL_BYTES * 2,
    // Past the soft limit the router unsubscribes the agent; the hard limit sits a full frame above it,
    // so uWS never silently drops a frame for an agent we still count as in sync.
    maxBackpressure: config.agentSoftBackpressure + config.maxPayloadBytes + 1024 * 1024,
    idleTimeout: config.idleTimeoutSec,
    sendPingsAutomatically: true,

    upgrade: async (res, req, context) => {
      const u = readUpgrade(res, req, context, config.trustProxy);
      watchAborted(u); // the token check may await the store
      try {
        if (ctx.state.shuttingDown) return refuseUpgrade(u, metrics, 'shuttingDown', 'relay is restarting');
        if (TOKEN_QUERY_PARAMS.some((p) => u.query.has(p))) {
          return refuseUpgrade(u, metrics, 'tokenInUrl', 'tokens must be sent in Sec-WebSocket-Protocol, never in the URL');
        }
        if (u.origin && !agentOrigins.includes(u.origin) && !originAllowed(u.origin, config.agentOrigins)) {
          return refuseUpgrade(u, metrics, 'forbiddenOrigin', 'this origin may not open agent sockets');
        }
        // The token is cheap to check: checked first, and only a failure spends the address's
        // failed-authentication budget (shared with REST); past it, 429 instead of 401. A valid token
        // is never refused by it, so an attacker behind a team's NAT cannot lock the team out.
        const ip = clientIp(u.ip, u.forwardedFor, config.trustProxy);
        const refuseFailure = (name: 'unauthorized' | 'tokenExpired' | 'invalidToken', message: string) => {
          const refusal = ctx.apiLimits.auth.chargeFailure(ip);
          if (!refusal) return refuseUpgrade(u, metrics, name, message);
          metrics.counters.rate_limited_total++;
          refuseUpgrade(u, metrics, refusal.refused, refusal.message, { 'retry-after': String(refusal.retryAfterSec) });
        };
        const protocols = u.wsProtocol.split(',').map((s) => s.trim());
        const bearer = protocols.find((p) => p.startsWith(BEARER_PREFIX));
        if (!protocols.includes(AGENT_SUBPROTOCOL) || !bearer) {
          return refuseFailure('unauthorized', `send Sec-WebSocket-Protocol: ${AGENT_SUBPROTOCOL}, ${BEARER_PREFIX}<token>`);
        }
        const verified = await verifyAgentToken(bearer.slice(BEARER_PREFIX.length), ctx.relaySecret, (id) => ctx.accounts.byId(id));
        if (!verified.ok) {
          return refuseFailure(verified.code === 'token_expired' ? 'tokenExpired' : 'invalidToken', verified.message);
        }
        const account = await ctx.accounts.byId(verified.claims.accountId); // cached: verification just read it
        const c = verified.claims;
        const data: AgentInit = {
          kind: 'agent',
          ip,
          closed: false,
          msgs: new TokenBucket(config.agentMsgsPerSec, config.agentMsgsPerSec * 2),
          accountId: c.accountId,
          agentId: c.agentId,
          name: c.name,
          exp: c.exp,
          pageOrigins: account?.allowedOrigins ?? [],
          secretGeneration: c.secretGeneration,
          state: 'idle',
          lagging: false,
          laggingSince: 0,
          resyncTimes: [],
        };
        upgradeWithIpSlot(ctx, u, data, data, AGENT_SUBPROTOCOL);
      } catch (err) {
        // A store outage fails every upgrade: budgeted per address like other client-caused lines.
        ctx.clientLimits.log.error(clientIp(u.ip, u.forwardedFor, config.trustProxy), { err: (err as Error).message }, 'agent upgrade failed');
        refuseUpgrade(u, metrics, 'internal', 'internal error');
      }
    },

    open: (ws) => {
      // Until now the user data was the upgrade's AgentInit; the router completes it.
      const agent = router.openAgent(ws.getUserData() as AgentInit, ws);
      const ms = Math.max(0, agent.exp * 1000 - Date.now());
      agent.expiryTimer = setTimeout(() => closeWith(ws, agent, 'tokenExpired', 'agent token expired'), Math.min(ms, MAX_TIMER_MS));
      agent.expiryTimer.unref();
      sendMessage(ws, agent, { t: 'ready', agentId: agent.agentId, accountId: agent.accountId, pageOrigins: [...(agent.pageOrigins ?? [])] });
    },

    message: (ws, message, isBinary) => {
      const agent = ws.getUserData();
      if (agent.closed) return;
      try {
        if (!agent.msgs.take(1)) {
          metrics.counters.rate_limited_total++;
          return closeWith(ws, agent, 'rateLimited', 'too many messages');
        }
        if (isBinary) {
          metrics.counters.bad_messages_total++;
          return closeWith(ws, agent, 'badMessage', 'agents send text control messages only');
        }
        const msg = readControl(ws, agent, message, metrics, parseAgentMessage);
        // Cluster mode: a session with a visitor on another relay goes there.
        if (msg && !ctx.cluster?.routeAgentMessage(agent, msg)) router.onAgentMessage(agent, msg);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'agent message handler failed');
        closeWith(ws, agent, 'badMessage', 'internal error handling the message');
      }
    },

    drain: (ws) => guarded(log, 'agent drain handler', () => router.backpressure.onDrain(ws.getUserData())),

    close: (ws) => {
      const agent = ws.getUserData();
      releaseIpSlot(ctx, agent);
      guarded(log, 'agent close handler', () => {
        ctx.cluster?.agentClosed(agent);
        router.removeAgent(agent);
      });
    },
  };
}
