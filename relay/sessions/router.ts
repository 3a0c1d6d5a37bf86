/**
 * Session routing: which agents watch which tab, consent, control and the
 * follow-across-navigation rules. Frames themselves never pass through here as
 * data: they are published to the tab's uWS topic (fan-out in C++).
 */
import crypto from 'node:crypto';
import type { TemplatedApp } from 'uWebSockets.js';
import { AGENT_TOOL_TYPES, Close, CONTROL_ONLY_TYPES, type AgentToRelay, type VisitorToRelay } from '../../protocol/index.ts';
import type { RelayConfig } from '../config.ts';
import type { ClientLimits } from '../limits/clientLimits.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { MetadataService } from '../metadata/service.ts';
import { closeWith, sendJson } from './send.ts';
import type { AgentData, TabData, Visitor } from './types.ts';

const SNAPSHOT_REQUEST_MIN_INTERVAL_MS = 100;
const LOOKUP_CODE_TTL_MS = 10 * 60_000;

export class SessionRouter {
  readonly visitors = new Map<string, Visitor>();
  readonly agents = new Set<AgentData>();

  constructor(
    private app: TemplatedApp,
    private config: RelayConfig,
    private metrics: Metrics,
    private log: Logger,
    private metadata: MetadataService,
    /** Budgets for the activity entries and log lines clients cause. */
    private limits: ClientLimits,
  ) {
    metadata.endVisitors = (accountId, ids) => this.endVisitors(accountId, ids);
  }

  static visitorKey(accountId: string, visitorId: string): string {
    return `${accountId}/${visitorId}`;
  }

  static topic(accountId: string, visitorId: string, tabId: string): string {
    return `tab/${accountId}/${visitorId}/${tabId}`;
  }

  // ---------------------------------------------------------------- visitor side

  addTab(tab: TabData): void {
    const key = SessionRouter.visitorKey(tab.account.id, tab.visitorId);
    let v = this.visitors.get(key);
    if (!v) {
      v = { key, account: tab.account, visitorId: tab.visitorId, tabs: new Map(), consented: new Set(), control: new Set(), pending: new Set(), controlAsked: new Set(), followers: new Set() };
      this.visitors.set(key, v);
    }
    clearTimeout(v.graceTimer);
    v.graceTimer = undefined;
    // A second socket claiming a live tab id (e.g. a duplicated tab) gets a fresh tab.
    const old = v.tabs.get(tab.tabId);
    if (old && !old.closed) closeWith(old.ws, old, 'normal', 'replaced by a newer connection of the same tab');
    v.tabs.set(tab.tabId, tab);
    tab.visitor = v;
    this.log.debug({ accountId: v.account.id, visitorId: v.visitorId, tabId: tab.tabId, ip: tab.ip }, 'visitor tab connected');
    this.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId, ip: tab.ip });
    this.metrics.gauges.visitor_sockets++;

    for (const agent of [...v.followers]) {
      const wanted = agent.target?.tabId;
      if (wanted === tab.tabId || (wanted !== undefined && !v.tabs.has(wanted))) {
        v.followers.delete(agent);
        this.attach(agent, tab, tab.ip);
      }
    }
    for (const agent of v.pending) {
      sendJson(tab.ws, tab, { t: 'consent-request', agent: { id: agent.agentId, name: agent.name } });
    }
  }

  removeTab(tab: TabData): void {
    const v = tab.visitor;
    clearTimeout(tab.snapshotTimer);
    this.metrics.gauges.visitor_sockets--;
    if (!v || v.tabs.get(tab.tabId) !== tab) return;
    v.tabs.delete(tab.tabId);
    for (const agent of [...tab.agents]) {
      this.detach(agent);
      agent.state = 'following';
      v.followers.add(agent);
      sendJson(agent.ws, agent, { t: 'visitor-left', visitorId: v.visitorId, tabId: tab.tabId });
    }
    if (v.tabs.size === 0) {
      v.graceTimer = setTimeout(() => this.expireVisitor(v), this.config.visitorGraceMs);
      v.graceTimer.unref();
    }
  }

  /** Ends everything about a visitor now (grace expiry, deletion). */
  expireVisitor(v: Visitor, reason: 'gone' | 'visitor_stopped' = 'gone'): void {
    if (v.tabs.size > 0) return;
    clearTimeout(v.graceTimer);
    for (const agent of [...v.followers]) {
      this.reset(agent);
      sendJson(agent.ws, agent, { t: 'ended', visitorId: v.visitorId, reason });
    }
    for (const agent of [...v.pending]) {
      this.reset(agent);
      sendJson(agent.ws, agent, { t: 'refused', visitorId: v.visitorId, reason: 'not_found' });
    }
    this.visitors.delete(v.key);
  }

  /** Deletion: close every tab of these visitors (4004) and end their sessions now. */
  endVisitors(accountId: string, visitorIds: string[]): void {
    for (const id of visitorIds) {
      const v = this.visitors.get(SessionRouter.visitorKey(accountId, id));
      if (!v) continue;
      for (const tab of [...v.tabs.values()]) closeWith(tab.ws, tab, 'visitorDeleted', 'this visitor\'s data was deleted');
      this.expireVisitor(v, 'visitor_stopped');
    }
  }

  /** Online visitor ids of an account matching ids, user ids or emails (for deletion and search). */
  onlineVisitorIds(accountId: string, match?: { visitorIds?: string[]; userIds?: string[]; emails?: string[] }): string[] {
    const out: string[] = [];
    const emails = new Set((match?.emails ?? []).map((e) => e.toLowerCase()));
    for (const v of this.visitors.values()) {
      if (v.account.id !== accountId || v.tabs.size === 0) continue;
      if (!match || match.visitorIds?.includes(v.visitorId) || (v.userId !== undefined && match.userIds?.includes(v.userId)) || (v.email !== undefined && emails.has(v.email.toLowerCase()))) {
        out.push(v.visitorId);
      }
    }
    return out;
  }

  /** At most once a minute while a tab is active: keep last-seen fresh. */
  heartbeat(tab: TabData, nowPerf: number): void {
    if (nowPerf - tab.lastTouch < 60_000) return;
    tab.lastTouch = nowPerf;
    this.metadata.touch({ accountId: tab.account.id, visitorId: tab.visitorId });
  }

  onVisitorMessage(tab: TabData, msg: VisitorToRelay): void {
    const v = tab.visitor;
    if (!v) return;
    tab.lastActive = Date.now();
    switch (msg.t) {
      case 'page':
        if (msg.url !== tab.url) this.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId, lastUrl: msg.url });
        tab.url = msg.url;
        tab.title = msg.title;
        // Published on the tab's topic so it stays in order with the frames.
        if (tab.agents.size > 0) {
          this.app.publish(tab.topic, JSON.stringify({ t: 'page', visitorId: v.visitorId, tabId: tab.tabId, url: msg.url, title: msg.title }), false);
        }
        return;
      case 'consent': {
        // Only an answer to a request the relay passed on is recorded: anything else (forged, or
        // late after the agent gave up) is ignored and counted, and writes nothing.
        const asking = [...v.pending].filter((a) => a.agentId === msg.agentId);
        if (asking.length === 0) return this.ignoreAnswer();
        this.limits.log.info(tab.ip, { accountId: v.account.id, visitorId: v.visitorId, agentId: msg.agentId, allow: msg.allow }, 'consent answered');
        this.metadata.activity(v.account.id, msg.allow ? 'consent_given' : 'consent_refused', { agentId: msg.agentId, visitorId: v.visitorId, userId: v.userId });
        if (msg.allow) v.consented.add(msg.agentId);
        else v.consented.delete(msg.agentId);
        for (const agent of asking) {
          v.pending.delete(agent);
          if (msg.allow) {
            const wanted = agent.target ? v.tabs.get(agent.target.tabId) : undefined;
            this.attach(agent, wanted ?? tab, tab.ip);
          } else {
            this.reset(agent);
            sendJson(agent.ws, agent, { t: 'refused', visitorId: v.visitorId, reason: 'denied' });
          }
        }
        return;
      }
      case 'control': {
        // A grant answers a control request the relay passed on; a revoke ends control held (or
        // denies a request). Only an agent in the session can hold control. Anything else is ignored.
        const asked = v.controlAsked.delete(msg.agentId);
        const holds = v.control.has(msg.agentId);
        const inSession = this.agentsOf(v).some((a) => a.agentId === msg.agentId);
        if (!inSession || !(asked || (holds && !msg.allow))) return this.ignoreAnswer();
        if (msg.allow !== holds) {
          this.metadata.activity(v.account.id, msg.allow ? 'control_granted' : 'control_revoked', { agentId: msg.agentId, visitorId: v.visitorId, userId: v.userId });
        }
        if (msg.allow) v.control.add(msg.agentId);
        else v.control.delete(msg.agentId);
        this.tellControl(v, msg.agentId, msg.allow);
        return;
      }
      case 'end': {
        for (const agent of this.agentsOf(v)) {
          if (msg.agentId !== undefined && agent.agentId !== msg.agentId) continue;
          v.consented.delete(agent.agentId);
          v.control.delete(agent.agentId);
          this.reset(agent);
          sendJson(agent.ws, agent, { t: 'ended', visitorId: v.visitorId, reason: 'visitor_stopped' });
        }
        return;
      }
      case 'identify': {
        if (msg.userId !== undefined) v.userId = msg.userId;
        if (msg.email !== undefined) v.email = msg.email;
        this.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId, userId: msg.userId, name: msg.name, email: msg.email });
        return;
      }
      case 'code-request': {
        const code = String(crypto.randomInt(0, 1_000_000)).padStart(6, '0');
        const expiresAt = new Date(Date.now() + LOOKUP_CODE_TTL_MS);
        this.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId, lookupCode: code, lookupCodeExpiresAt: expiresAt });
        sendJson(tab.ws, tab, { t: 'code', code, expiresAt: expiresAt.toISOString() });
        return;
      }
      case 'tab-active':
        this.followActiveTab(tab);
        return;
      case 'forget': {
        const accountId = v.account.id;
        const visitorId = v.visitorId;
        // An erasure writes `data_deleted`: budgeted, since a script can connect and forget in a loop.
        const refusal = this.limits.activity.take(tab.ip, accountId);
        if (refusal) return closeWith(tab.ws, tab, refusal.name, refusal.message);
        this.metadata.deleteVisitors(accountId, { visitorIds: [visitorId] }, [visitorId], 'the visitor').catch((err) => {
          this.limits.log.error(tab.ip, { err: (err as Error).message }, 'visitor erasure failed');
        });
        return;
      }
    }
  }

  /**
   * Called after a binary frame was published to the tab: keeps slow agents from piling up,
   * and returns how many agents the frame went to (lagging agents are unsubscribed).
   */
  afterPublish(tab: TabData): number {
    const soft = this.config.agentSoftBackpressure;
    let delivered = 0;
    for (const agent of tab.agents) {
      if (agent.lagging) continue;
      delivered++;
      if (agent.ws && agent.ws.getBufferedAmount() > soft) this.markLagging(agent);
    }
    return delivered;
  }

  // ---------------------------------------------------------------- agent side

  addAgent(agent: AgentData): void {
    this.log.debug({ accountId: agent.accountId, agentId: agent.agentId, ip: agent.ip }, 'agent connected');
    this.agents.add(agent);
    this.metrics.gauges.agent_sockets++;
  }

  removeAgent(agent: AgentData): void {
    this.reset(agent);
    if (agent.lagging) this.metrics.gauges.agents_lagging--;
    this.agents.delete(agent);
    clearTimeout(agent.expiryTimer);
    this.metrics.gauges.agent_sockets--;
  }

  onAgentMessage(agent: AgentData, msg: AgentToRelay): void {
    switch (msg.t) {
      case 'join':
        return this.join(agent, msg.visitorId, msg.tabId);
      case 'leave':
        return this.reset(agent);
      case 'resync':
        if (agent.state === 'watching' && agent.tab) this.requestSnapshot(agent.tab);
        return;
    }
    if (!AGENT_TOOL_TYPES.has(msg.t)) return;
    const tab = agent.tab;
    if (agent.state !== 'watching' || !tab?.visitor) {
      sendJson(agent.ws, agent, { t: 'error', code: 'not_in_session', message: `${msg.t} needs a joined session` });
      return;
    }
    if (CONTROL_ONLY_TYPES.has(msg.t) && !tab.visitor.control.has(agent.agentId)) {
      sendJson(agent.ws, agent, { t: 'error', code: 'control_not_granted', message: `${msg.t} needs control granted by the visitor` });
      return;
    }
    if (msg.t === 'control-request' && !tab.visitor.controlAsked.has(agent.agentId)) {
      // The visitor's answer may write control_granted/revoked: a new request is budgeted.
      const refusal = this.limits.activity.take(agent.ip, agent.accountId);
      if (refusal) return closeWith(agent.ws, agent, refusal.name, refusal.message);
      tab.visitor.controlAsked.add(agent.agentId);
    }
    sendJson(tab.ws, tab, { ...msg, agentId: agent.agentId });
  }

  /** Drain: a lagging agent that caught up is resubscribed and gets a fresh snapshot. */
  onAgentDrain(agent: AgentData): void {
    if (!agent.lagging || !agent.ws) return;
    if (agent.ws.getBufferedAmount() > this.config.agentSoftBackpressure / 4) return;
    agent.lagging = false;
    this.metrics.gauges.agents_lagging--;
    if (agent.state === 'watching' && agent.tab) {
      agent.ws.subscribe(agent.tab.topic);
      this.requestSnapshot(agent.tab);
    }
  }

  /** Periodic: close agents stuck behind for too long, and enforce the global buffer cap. */
  sweep(now = Date.now()): void {
    let total = 0;
    const buffered: Array<[AgentData, number]> = [];
    for (const agent of this.agents) {
      if (agent.closed || !agent.ws) continue;
      const b = agent.ws.getBufferedAmount();
      total += b;
      if (b > 0) buffered.push([agent, b]);
      if (agent.lagging && now - agent.laggingSince > this.config.slowAgentTimeoutMs) {
        this.closeSlow(agent, 'agent did not read its stream in time');
      }
    }
    this.metrics.gauges.agent_buffered_bytes = total;
    if (total <= this.config.globalBufferedCap) return;
    buffered.sort((a, b) => b[1] - a[1]);
    for (const [agent, b] of buffered) {
      if (total <= this.config.globalBufferedCap) break;
      this.closeSlow(agent, 'relay buffer cap reached', 'overloaded');
      total -= b;
    }
  }

  // ---------------------------------------------------------------- internals

  private join(agent: AgentData, visitorId: string, tabId?: string): void {
    this.reset(agent);
    const v = this.visitors.get(SessionRouter.visitorKey(agent.accountId, visitorId));
    // A rejoin names the tab it watched. After a relay restart that tab may never come back (closed, or
    // reconnecting under a new tab id) while the visitor is online on another: take the visitor's most
    // recent tab then, as a follower would (addTab), or the agent would wait on "not found" forever.
    const tab = v && ((tabId !== undefined && v.tabs.get(tabId)) || this.mostRecentTab(v));
    if (!v || !tab) {
      // Same answer for "no such visitor" and "another account's visitor": nothing leaks.
      sendJson(agent.ws, agent, { t: 'refused', visitorId, reason: 'not_found' });
      return;
    }
    // A session writes activity (requested, answered, ended) and log lines: budgeted per address and account.
    const refusal = this.limits.activity.take(agent.ip, agent.accountId);
    if (refusal) return closeWith(agent.ws, agent, refusal.name, refusal.message);
    agent.target = { visitor: v, tabId: tab.tabId };
    if (!v.account.requireConsent || v.consented.has(agent.agentId)) {
      this.attach(agent, tab, agent.ip);
      return;
    }
    this.metadata.activity(v.account.id, 'session_requested', { agentId: agent.agentId, visitorId: v.visitorId, userId: v.userId });
    agent.state = 'pending';
    v.pending.add(agent);
    // The agent's view must not keep saying "not connected" (a rejoin after not_found) while the visitor is asked.
    sendJson(agent.ws, agent, { t: 'consent-pending', visitorId: v.visitorId });
    sendJson(tab.ws, tab, { t: 'consent-request', agent: { id: agent.agentId, name: agent.name } });
  }

  /**
   * The visitor is on this tab now: agents watching another of their tabs, or waiting for a tab
   * that went away, move here without a new prompt (consent is the visitor's, not the tab's).
   * Control is per page, so it ends with the move and must be asked for again. A pending consent
   * prompt is shown here too.
   */
  private followActiveTab(tab: TabData): void {
    const v = tab.visitor;
    if (!v || tab.closed) return;
    const mayWatch = (agent: AgentData) => !v.account.requireConsent || v.consented.has(agent.agentId);
    for (const other of v.tabs.values()) {
      if (other === tab) continue;
      const moved = new Set<string>();
      for (const agent of [...other.agents]) {
        if (!mayWatch(agent)) continue;
        this.detach(agent);
        moved.add(agent.agentId);
        this.revokeControlForMove(v, agent);
        this.attach(agent, tab, tab.ip);
      }
      for (const agentId of moved) {
        if (![...other.agents].some((a) => a.agentId === agentId)) sendJson(other.ws, other, { t: 'agent-left', agentId });
      }
    }
    for (const agent of [...v.followers]) {
      if (!mayWatch(agent)) continue;
      v.followers.delete(agent);
      this.revokeControlForMove(v, agent);
      this.attach(agent, tab, tab.ip);
    }
    for (const agent of v.pending) {
      if (agent.target?.tabId === tab.tabId) continue;
      agent.target = { visitor: v, tabId: tab.tabId };
      sendJson(tab.ws, tab, { t: 'consent-request', agent: { id: agent.agentId, name: agent.name } });
    }
  }

  /** Called between detach and attach, so `agent` itself is told too. */
  private revokeControlForMove(v: Visitor, agent: AgentData): void {
    v.controlAsked.delete(agent.agentId); // the prompt stays behind on the old tab
    if (!v.control.delete(agent.agentId)) return;
    this.metadata.activity(v.account.id, 'control_revoked', { agentId: agent.agentId, visitorId: v.visitorId, userId: v.userId, detail: 'visitor switched tabs' });
    this.tellControl(v, agent.agentId, false, agent);
  }

  /** Tells every socket of this agent in the visitor's session (and `also`) whether it holds control. */
  private tellControl(v: Visitor, agentId: string, allow: boolean, also?: AgentData): void {
    const sockets = new Set(this.agentsOf(v).filter((a) => a.agentId === agentId));
    if (also) sockets.add(also);
    for (const a of sockets) sendJson(a.ws, a, { t: 'control', visitorId: v.visitorId, allow });
  }

  /** `causeIp`: the address of the client whose action this is, for the log budget. */
  private attach(agent: AgentData, tab: TabData, causeIp: string): void {
    if (agent.closed || !agent.ws || !tab.visitor) return;
    this.limits.log.info(causeIp, { accountId: tab.account.id, visitorId: tab.visitorId, tabId: tab.tabId, agentId: agent.agentId }, 'agent joined');
    agent.state = 'watching';
    agent.tab = tab;
    agent.target = { visitor: tab.visitor, tabId: tab.tabId };
    tab.agents.add(agent);
    if (!agent.lagging) agent.ws.subscribe(tab.topic);
    sendJson(agent.ws, agent, { t: 'joined', visitorId: tab.visitorId, tabId: tab.tabId, url: tab.url, title: tab.title });
    // The visitor always learns who is watching (the sharing bar), with or without a consent prompt.
    sendJson(tab.ws, tab, { t: 'agent-joined', agent: { id: agent.agentId, name: agent.name } });
    this.requestSnapshot(tab);
  }

  /** Unsubscribes from the current tab, keeping the target. */
  private detach(agent: AgentData): void {
    const tab = agent.tab;
    if (!tab) return;
    tab.agents.delete(agent);
    agent.tab = undefined;
    if (!agent.closed && agent.ws) {
      try {
        agent.ws.unsubscribe(tab.topic);
      } catch {
        /* closed */
      }
    }
  }

  /** Back to idle: out of any session, pending list or follower list. */
  private reset(agent: AgentData): void {
    const v = agent.target?.visitor;
    const wasIn = agent.state === 'watching' || agent.state === 'following';
    this.detach(agent);
    if (v) {
      v.pending.delete(agent);
      v.followers.delete(agent);
      const stillThere = this.agentsOf(v).some((a) => a.agentId === agent.agentId);
      if (wasIn && !stillThere) {
        this.metadata.activity(v.account.id, 'session_ended', { agentId: agent.agentId, visitorId: v.visitorId, userId: v.userId });
        v.control.delete(agent.agentId);
        v.controlAsked.delete(agent.agentId);
        for (const tab of v.tabs.values()) sendJson(tab.ws, tab, { t: 'agent-left', agentId: agent.agentId });
      }
    }
    agent.state = 'idle';
    agent.target = undefined;
  }

  /** A consent or control answer to nothing the relay asked: no entry, no log line, just a count. */
  private ignoreAnswer(): void {
    this.metrics.counters.unrequested_answers_ignored_total++;
  }

  private agentsOf(v: Visitor): AgentData[] {
    const out: AgentData[] = [...v.followers];
    for (const tab of v.tabs.values()) out.push(...tab.agents);
    return out;
  }

  private mostRecentTab(v: Visitor): TabData | undefined {
    let best: TabData | undefined;
    for (const tab of v.tabs.values()) if (!best || tab.lastActive >= best.lastActive) best = tab;
    return best;
  }

  private markLagging(agent: AgentData): void {
    const now = Date.now();
    agent.lagging = true;
    agent.laggingSince = now;
    this.metrics.gauges.agents_lagging++;
    this.metrics.counters.agent_resyncs_total++;
    agent.resyncTimes = agent.resyncTimes.filter((t) => now - t < 60_000);
    agent.resyncTimes.push(now);
    if (agent.resyncTimes.length > this.config.maxResyncsPerMinute) {
      this.closeSlow(agent, 'too many resyncs: the agent cannot keep up');
      return;
    }
    if (agent.tab) agent.ws?.unsubscribe(agent.tab.topic);
    // Queued behind what is already buffered, so the agent learns of the gap in order.
    sendJson(agent.ws, agent, { t: 'resync' });
  }

  private closeSlow(agent: AgentData, message: string, name: 'slowConsumer' | 'overloaded' = 'slowConsumer'): void {
    if (agent.closed) return;
    this.metrics.counters.slow_agents_closed_total++;
    this.limits.log.info(agent.ip, { agentId: agent.agentId, reason: Close[name].reason, detail: message }, 'closing slow agent');
    // No error message first: the agent is not reading, and the close code says it all.
    agent.closed = true;
    try {
      agent.ws?.end(Close[name].code, Close[name].reason);
    } catch {
      /* gone */
    }
  }

  requestSnapshot(tab: TabData): void {
    if (tab.closed || tab.snapshotTimer) return;
    const wait = tab.lastSnapshotRequest + SNAPSHOT_REQUEST_MIN_INTERVAL_MS - Date.now();
    const send = () => {
      tab.snapshotTimer = undefined;
      tab.lastSnapshotRequest = Date.now();
      this.metrics.counters.snapshot_requests_total++;
      sendJson(tab.ws, tab, { t: 'snapshot-request' });
    };
    if (wait <= 0) send();
    else {
      tab.snapshotTimer = setTimeout(send, wait);
      tab.snapshotTimer.unref();
    }
  }
}
