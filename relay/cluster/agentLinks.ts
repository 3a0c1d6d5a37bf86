/**
 * On the agent's relay: agents whose visitor is on another relay. Their control messages go to the
 * visitor's relay (which runs the session through a proxy, remoteAgents.ts) and come back as text,
 * sent verbatim; the frames of the tab they watch arrive over NATS and are published to the same
 * uWS topic a local tab would use, through the one publisher, with the same backpressure.
 *
 * When the visitor's relay dies the agents wait ("visitor-left") and rejoin wherever the visitor's
 * tab shows up again, here or on another relay; consent given before holds (consent.ts).
 */
import crypto from 'node:crypto';
import { Close, type AgentToRelay, type CloseName, type JoinMsg } from '../../protocol/index.ts';
import type { ClusterEnvelope } from '../../protocol/cluster.ts';
import type { Metrics } from '../metrics.ts';
import type { SessionRouter } from '../sessions/router.ts';
import { closeWith, sendMessage } from '../sessions/send.ts';
import type { AgentData, TabData } from '../sessions/types.ts';
import type { ClusterBus } from './bus.ts';
import type { WholeFrame } from './chunks.ts';
import type { Presence, RemoteTab } from './presence.ts';

export class AgentLinks {
  private readonly sids = new WeakMap<AgentData, string>();
  private readonly bySid = new Map<string, AgentData>();
  /** topic -> this relay's agents receiving it over NATS. */
  private readonly watchers = new Map<string, Set<AgentData>>();

  constructor(
    private readonly nodeId: string,
    private readonly router: SessionRouter,
    private readonly bus: ClusterBus,
    private readonly presence: Presence,
    private readonly metrics: Metrics,
  ) {}

  /** Called for every agent message before the router: true when it went to another relay. */
  route(agent: AgentData, msg: AgentToRelay): boolean {
    if (msg.t === 'join') {
      // Kept for the joins this relay makes for it later (rejoin, follow): they must offer the same key.
      agent.e2eKey = msg.key;
      agent.e2eKeyToken = msg.keyToken;
      return this.join(agent, msg.visitorId, msg.tabId);
    }
    const r = agent.remote;
    if (!r) return false;
    if (r.node) {
      this.forward(agent, r.node, msg);
      if (msg.t === 'leave') this.unlink(agent, 'leave');
      return true;
    }
    // Waiting for the visitor to come back on some relay.
    if (msg.t === 'leave') this.unlink(agent, 'leave');
    else sendMessage(agent.ws, agent, { t: 'error', code: 'not_in_session', message: `${msg.t} needs a joined session` });
    return true;
  }

  /** The agent's socket closed. */
  closed(agent: AgentData): void {
    if (agent.remote) this.unlink(agent, 'gone');
    const sid = this.sids.get(agent);
    if (sid) this.bySid.delete(sid);
  }

  private join(agent: AgentData, visitorId: string, tabId?: string): boolean {
    const local = this.router.visitorOf(agent.accountId, visitorId);
    const localTabs = local ? local.tabs.size : 0;
    const remote = this.presence.tabsOf(agent.accountId, visitorId);
    let node: string | undefined;
    if (tabId !== undefined && local?.tabs.has(tabId)) node = undefined;
    else if (tabId !== undefined && remote.some((t) => t.tabId === tabId)) node = remote.find((t) => t.tabId === tabId)!.node;
    else if (localTabs === 0 && remote.length > 0) node = remote[0].node;
    const same = agent.remote?.visitorId === visitorId;
    if (!node) {
      if (agent.remote) this.unlink(agent, same ? 'gone' : 'leave');
      return false; // the router joins it here (or answers not_found)
    }
    if (agent.remote && agent.remote.node !== node) this.unlink(agent, same ? 'gone' : 'leave');
    // Out of any session on this relay first, as a join to another visitor would do.
    if (agent.state !== 'idle') this.router.reset(agent, agent.target?.visitor.visitorId === visitorId ? 'disconnected' : 'ended');
    agent.remote = { ...agent.remote, node, visitorId, tabId };
    this.forward(agent, node, joinMsg(agent, visitorId, tabId));
    return true;
  }

  private sidOf(agent: AgentData): string {
    let sid = this.sids.get(agent);
    if (!sid) {
      sid = crypto.randomBytes(12).toString('base64url');
      this.sids.set(agent, sid);
      this.bySid.set(sid, agent);
    }
    return sid;
  }

  private forward(agent: AgentData, node: string, msg: AgentToRelay): void {
    this.bus.send(node, {
      op: 'agent-msg',
      agent: { sid: this.sidOf(agent), accountId: agent.accountId, agentId: agent.agentId, name: agent.name, ip: agent.ip, exp: agent.exp },
      msg: msg as unknown as Record<string, unknown>,
    });
  }

  /** Leaves the remote session: `leave` ends the agreement (another visitor), `gone` keeps it. */
  private unlink(agent: AgentData, how: 'leave' | 'gone'): void {
    const r = agent.remote;
    if (!r) return;
    this.unwatch(agent);
    if (r.node) {
      if (how === 'leave') this.forward(agent, r.node, { t: 'leave' });
      this.bus.send(r.node, { op: 'agent-gone', sid: this.sidOf(agent) });
    }
    agent.remote = undefined;
  }

  private unwatch(agent: AgentData): void {
    const topic = agent.remote?.topic;
    if (!topic || !agent.remote) return;
    agent.remote.topic = undefined;
    const set = this.watchers.get(topic);
    set?.delete(agent);
    if (set && set.size === 0) this.watchers.delete(topic);
    if (!agent.closed) {
      try {
        agent.ws.unsubscribe(topic);
      } catch {
        /* closed */
      }
    }
  }

  // ---------------------------------------------------------------- from the visitor's relay

  onEnvelope(env: ClusterEnvelope): void {
    if (env.op === 'resync') return this.resyncWatchers(env.topic);
    if (!('sid' in env)) return;
    const agent = this.bySid.get(env.sid);
    // Not ours (any more), or from a relay it has left: that relay drops its proxy.
    if (!agent || agent.closed || agent.remote?.node !== env.from) {
      if (env.op !== 'close-agent') this.bus.send(env.from, { op: 'agent-gone', sid: env.sid });
      return;
    }
    switch (env.op) {
      case 'to-agent':
        try {
          agent.ws.send(env.text, false);
        } catch {
          agent.closed = true;
        }
        return;
      case 'watch': {
        // Only a tab of the agent's own account and of the visitor it is linked to: a topic is also a
        // local tab's uWS topic, so anything else would hand the agent another session's frames.
        if (!env.topic.startsWith(`tab/${agent.accountId}/${agent.remote.visitorId}/`)) {
          this.metrics.counters.cluster_bad_messages_total++;
          return;
        }
        if (agent.remote.topic === env.topic) return;
        this.unwatch(agent);
        agent.remote.topic = env.topic;
        let set = this.watchers.get(env.topic);
        if (!set) this.watchers.set(env.topic, (set = new Set()));
        set.add(agent);
        if (!agent.lagging) agent.ws.subscribe(env.topic);
        return;
      }
      case 'unwatch':
        if (agent.remote.topic === env.topic) this.unwatch(agent);
        return;
      case 'follow':
        return this.follow(agent, env.node, env.visitorId, env.tabId);
      case 'close-agent': {
        const name = (Object.keys(Close) as CloseName[]).find((n) => Close[n].code === env.code) ?? 'badMessage';
        return closeWith(agent.ws, agent, name, env.message);
      }
    }
  }

  /**
   * A frame of a tab some of this relay's agents watch: verbatim to their uWS topic, only when it
   * comes from the relay they are linked to (not a relay the visitor left, nor a stray publisher).
   */
  onFrame(frame: WholeFrame, from: string): void {
    const watching = this.watchers.get(frame.topic);
    if (!watching) return;
    const agents = [...watching].filter((a) => a.remote?.node === from);
    if (agents.length === 0) {
      this.metrics.counters.cluster_bad_messages_total++;
      return;
    }
    const n = this.router.publisher.publishToWatchers(frame.topic, agents, frame.data, frame.binary);
    this.metrics.counters.frames_delivered_total += n;
    this.metrics.counters.frame_bytes_delivered_total += n * frame.data.byteLength;
  }

  /** Frames of a topic were lost between the relays: its agents discard until the fresh snapshot. */
  onLost(topic: string, from: string): void {
    this.resyncWatchers(topic);
    this.bus.send(from, { op: 'resync', topic });
  }

  /** A drained (formerly lagging) agent needs a fresh snapshot from the visitor's relay. */
  onDrain(agent: AgentData): void {
    const r = agent.remote;
    if (r?.node && r.topic) this.bus.send(r.node, { op: 'resync', topic: r.topic });
  }

  private resyncWatchers(topic: string): void {
    for (const agent of this.watchers.get(topic) ?? []) {
      if (!agent.lagging) sendMessage(agent.ws, agent, { t: 'resync' });
    }
  }

  // ---------------------------------------------------------------- relays and tabs coming and going

  /** The visitor's relay died: its agents wait for the visitor's tab to come back anywhere. */
  nodeDead(node: string): void {
    for (const agent of this.bySid.values()) {
      const r = agent.remote;
      if (!r || r.node !== node) continue;
      this.unwatch(agent);
      r.node = undefined;
      sendMessage(agent.ws, agent, { t: 'visitor-left', visitorId: r.visitorId, tabId: r.tabId ?? '' });
      // The visitor's embed may have reconnected elsewhere before this relay saw the death.
      const here = this.router.visitorOf(agent.accountId, r.visitorId);
      const tab = here && [...here.tabs.values()][0];
      if (tab) this.localTabOpened(tab);
      else {
        const there = this.presence.tabsOf(agent.accountId, r.visitorId)[0];
        if (there) this.tabSeen(there);
      }
    }
  }

  /** NATS went away: agents watching another relay's visitor are told the session is resuming. */
  natsDown(): void {
    for (const agent of this.bySid.values()) {
      if (agent.remote?.node) sendMessage(agent.ws, agent, { t: 'reconnecting', visitorId: agent.remote.visitorId });
    }
  }

  /**
   * NATS is back: frames sent while this relay was resubscribing were lost without a trace, so
   * every remote topic watched here resyncs and its visitor's relay is asked for a snapshot.
   */
  natsUp(): void {
    for (const [topic, agents] of this.watchers) {
      const node = [...agents][0]?.remote?.node;
      if (!node) continue;
      this.resyncWatchers(topic);
      this.bus.send(node, { op: 'resync', topic });
    }
  }

  /** The visitor moved: this relay's waiting agents of that visitor rejoin where it is now. */
  tabSeen(tab: RemoteTab): void {
    for (const agent of this.waitingFor(tab.accountId, tab.visitorId)) {
      agent.remote!.node = tab.node;
      agent.remote!.tabId = tab.tabId;
      this.forward(agent, tab.node, joinMsg(agent, tab.visitorId, tab.tabId));
    }
  }

  /** The visitor came back on this relay: its waiting agents join here. */
  localTabOpened(tab: TabData): void {
    for (const agent of this.waitingFor(tab.account.id, tab.visitorId)) {
      agent.remote = undefined;
      this.router.onAgentMessage(agent, joinMsg(agent, tab.visitorId, tab.tabId));
    }
  }

  /**
   * The visitor switched to a tab on `node` (tab-active there; `node` may be this relay): this
   * relay's agents watching it on another relay, or waiting for it, follow without a new prompt.
   */
  followTo(node: string, accountId: string, visitorId: string, tabId: string): void {
    for (const agent of [...this.bySid.values()]) {
      const r = agent.remote;
      if (!r || agent.closed || r.node === node || r.visitorId !== visitorId || agent.accountId !== accountId) continue;
      this.follow(agent, node, visitorId, tabId);
    }
  }

  /** The visitor this agent follows (after its tab went away) is back on `node`: here or elsewhere. */
  private follow(agent: AgentData, node: string, visitorId: string, tabId: string): void {
    if (agent.remote?.visitorId !== visitorId) return;
    this.unlink(agent, 'gone');
    if (node === this.nodeId) {
      this.router.onAgentMessage(agent, joinMsg(agent, visitorId, tabId));
      return;
    }
    agent.remote = { node, visitorId, tabId };
    this.forward(agent, node, joinMsg(agent, visitorId, tabId));
  }

  /** Tells a proxy's relay that its agent should follow the visitor to `node`. */
  sendFollow(home: string, sid: string, node: string, visitorId: string, tabId: string): void {
    this.bus.send(home, { op: 'follow', sid, node, visitorId, tabId });
  }

  /** One of this relay's agents watching a local tab follows the visitor to a tab on `node`. */
  moveToRemote(agent: AgentData, node: string, visitorId: string, tabId: string): void {
    this.router.reset(agent, 'disconnected');
    agent.remote = { node, visitorId, tabId };
    this.forward(agent, node, joinMsg(agent, visitorId, tabId));
  }

  private *waitingFor(accountId: string, visitorId: string): Iterable<AgentData> {
    for (const agent of [...this.bySid.values()]) {
      if (!agent.closed && agent.remote && !agent.remote.node && agent.accountId === accountId && agent.remote.visitorId === visitorId) yield agent;
    }
  }
}

/** A join on the agent's behalf, with the viewer's E2E key (and key token) it joined with, if any. */
function joinMsg(agent: AgentData, visitorId: string, tabId?: string): JoinMsg {
  return {
    t: 'join',
    visitorId,
    ...(tabId !== undefined ? { tabId } : {}),
    ...(agent.e2eKey !== undefined ? { key: agent.e2eKey } : {}),
    ...(agent.e2eKeyToken !== undefined ? { keyToken: agent.e2eKeyToken } : {}),
  };
}
