/**
 * Session routing: which agents watch which tab, consent, control and the
 * follow-across-navigation rules. Backpressure is backpressure.ts; the visitor's record
 * (identify, code, forget) is sockets/visitorRecord.ts. Frames themselves never pass through here as
 * data: they are published to the tab's uWS topic (fan-out in C++).
 */
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { AGENT_TOOL_TYPES, CONTROL_ONLY_TYPES, type AgentToRelay, type ConsentMsg, type ControlMsg, type ControlRefusedMsg, type EndMsg, type PageMsg, type VisitorToRelay } from '../../protocol/index.ts';
import type { RelayConfig } from '../config.ts';
import type { ClientLimits } from '../limits/clientLimits.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { MetadataService } from '../metadata/service.ts';
import { Backpressure } from './backpressure.ts';
import { agentInfo, routeE2eKey } from './e2eKeys.ts';
import { TabPublisher } from './publish.ts';
import { addTo } from './emptySet.ts';
import { nextActivity } from './tab.ts';
import { touchSeconds, VisitorState } from './visitor.ts';
import { VisitorIndex } from './visitorIndex.ts';
import { closeWith, sendMessage } from './send.ts';
import { requestSnapshot } from './snapshots.ts';
import type { AgentData, AgentInit, RouterHooks, TabData, TabInit, Visitor, VisitorSocketData } from './types.ts';

/**
 * A visitor's stored last-seen is refreshed by connects and by activity at most once a minute: more
 * than this many whole seconds apart (so always > 60 s, at most 62 s; touchedAt is whole seconds).
 */
const TOUCH_INTERVAL_SEC = 60;


export class SessionRouter {
  readonly visitors = new VisitorIndex();
  readonly agents = new Set<AgentData>();
  readonly backpressure: Backpressure;
  /** The only writer of tab topics (frames go through it from sockets/visitorSocket.ts). */
  readonly publisher: TabPublisher;
  /** Cluster mode's hooks (relay/cluster/); unset when the relay runs alone. */
  hooks?: RouterHooks;

  constructor(
    app: TemplatedApp,
    private config: RelayConfig,
    private metrics: Metrics,
    private log: Logger,
    private metadata: MetadataService,
    /** Budgets for the activity entries and log lines clients cause. */
    private limits: ClientLimits,
  ) {
    this.backpressure = new Backpressure(this.agents, config, metrics, limits);
    this.publisher = new TabPublisher(app, this.backpressure);
  }

  // ---------------------------------------------------------------- visitor side

  /**
   * The socket opened: completes the upgrade's data with its socket and visitor, and routes the tab.
   * `tombstoneKey`: the visitor's, if admission computed it (a returning visitor), for the touch.
   */
  openTab(init: TabInit, ws: WebSocket<VisitorSocketData>, tombstoneKey?: string): TabData {
    let v = this.visitors.get(init.account.id, init.visitorId);
    if (!v) {
      // Compact until an agent comes (visitor.ts): most visitors are never watched.
      v = new VisitorState(init.account, init.visitorId);
      this.visitors.set(v);
    }
    // The same object uWS holds in the socket's user data, now whole.
    init.ws = ws;
    init.visitor = v;
    const tab = init as TabData;
    this.addTab(tab, v, tombstoneKey);
    return tab;
  }

  private addTab(tab: TabData, v: Visitor, tombstoneKey: string | undefined): void {
    clearTimeout(v.graceTimer);
    v.graceTimer = undefined;
    // A second socket claiming a live tab id (e.g. a duplicated tab) gets a fresh tab.
    const old = v.tabs.get(tab.tabId);
    if (old && !old.closed) closeWith(old.ws, old, 'normal', 'replaced by a newer connection of the same tab');
    v.tabs.set(tab);
    this.log.debug({ accountId: v.account.id, visitorId: v.visitorId, tabId: tab.tabId, ip: tab.ip }, 'visitor tab connected');
    // A reconnect (page load, network blip) within a minute of the last touch from the same address
    // writes nothing: the stored record is already that fresh.
    const now = touchSeconds();
    if (now - v.touchedAt > TOUCH_INTERVAL_SEC || v.touchedIp !== tab.ip) {
      v.touchedAt = now;
      v.touchedIp = tab.ip;
      this.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId, ip: tab.ip }, tombstoneKey);
    }
    this.metrics.gauges.visitor_sockets++;
    this.hooks?.tabOpened(tab);

    for (const agent of [...v.followers]) {
      const wanted = agent.target?.tabId;
      if (wanted === tab.tabId || (wanted !== undefined && !v.tabs.has(wanted))) {
        v.followers.delete(agent);
        this.attach(agent, tab, tab.ip);
      }
    }
    for (const agent of v.pending) {
      sendMessage(tab.ws, tab, { t: 'consent-request', agent: agentInfo(agent) });
    }
  }

  removeTab(tab: TabData): void {
    const v = tab.visitor;
    clearTimeout(tab.watch?.snapshotTimer);
    this.metrics.gauges.visitor_sockets--;
    if (v.tabs.get(tab.tabId) !== tab) return;
    v.tabs.delete(tab.tabId);
    this.hooks?.tabClosed(tab);
    for (const agent of [...tab.agents]) {
      this.detach(agent);
      agent.state = 'following';
      addTo(v.followers, agent, (s) => (v.followers = s));
      sendMessage(agent.ws, agent, { t: 'visitor-left', visitorId: v.visitorId, tabId: tab.tabId });
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
      sendMessage(agent.ws, agent, { t: 'ended', visitorId: v.visitorId, reason });
    }
    for (const agent of [...v.pending]) {
      this.reset(agent);
      sendMessage(agent.ws, agent, { t: 'refused', visitorId: v.visitorId, reason: 'not_found' });
    }
    this.visitors.delete(v.account.id, v.visitorId);
  }

  /** Deletion: close every tab of these visitors (4004) and end their sessions now. */
  endVisitors(accountId: string, visitorIds: string[]): void {
    for (const id of visitorIds) {
      const v = this.visitors.get(accountId, id);
      if (!v) continue;
      for (const tab of [...v.tabs.values()]) closeWith(tab.ws, tab, 'visitorDeleted', 'this visitor\'s data was deleted');
      this.expireVisitor(v, 'visitor_stopped');
    }
  }

  visitorOf(accountId: string, visitorId: string): Visitor | undefined {
    return this.visitors.get(accountId, visitorId);
  }

  /**
   * At most once a minute per visitor while one of its tabs is active: keep last-seen fresh. Timed
   * from the visitor's last touch (connect or heartbeat), so several active tabs make one write.
   */
  heartbeat(tab: TabData, nowPerf: number): void {
    const v = tab.visitor;
    const now = touchSeconds(nowPerf);
    if (now - v.touchedAt <= TOUCH_INTERVAL_SEC) return;
    v.touchedAt = now;
    this.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId });
  }

  onVisitorMessage(tab: TabData, msg: VisitorToRelay): void {
    tab.lastActive = nextActivity();
    switch (msg.t) {
      case 'page': return this.onPage(tab, msg);
      case 'consent': return this.onConsent(tab, msg);
      case 'control': return this.onControl(tab.visitor, msg);
      case 'end': return this.onEnd(tab.visitor, msg);
      case 'tab-active': return this.followActiveTab(tab);
      case 'control-refused': return this.onControlRefused(tab, msg);
      case 'e2e-key':
        if (routeE2eKey(tab, msg) === 0) this.ignoreAnswer(); // for an agent gone (or a key it no longer has)
        return;
      default: return; // identify, code-request and forget concern the visitor's record: sockets/visitorRecord.ts
    }
  }

  private onPage(tab: TabData, msg: PageMsg): void {
    const v = tab.visitor;
    if (msg.url !== tab.url) this.metadata.touch({ accountId: v.account.id, visitorId: v.visitorId, lastUrl: msg.url });
    const changed = msg.url !== tab.url;
    tab.url = msg.url;
    tab.title = msg.title;
    if (changed) this.hooks?.tabChanged(tab);
    // Published on the tab's topic so it stays in order with the frames.
    if (tab.agents.size > 0) {
      this.publisher.publish(tab, JSON.stringify({ t: 'page', visitorId: v.visitorId, tabId: tab.tabId, url: msg.url, title: msg.title }), false);
    }
  }

  private onConsent(tab: TabData, msg: ConsentMsg): void {
    const v = tab.visitor;
    // Only an answer to a request the relay passed on is recorded: anything else (forged, or
    // late after the agent gave up) is ignored and counted, and writes nothing.
    const asking = [...v.pending].filter((a) => a.agentId === msg.agentId);
    if (asking.length === 0) return this.ignoreAnswer();
    this.limits.log.info(tab.ip, { accountId: v.account.id, visitorId: v.visitorId, agentId: msg.agentId, allow: msg.allow }, 'consent answered');
    this.metadata.activity(v.account.id, msg.allow ? 'consent_given' : 'consent_refused', { agentId: msg.agentId, visitorId: v.visitorId, userId: v.userId });
    if (msg.allow) addTo(v.consented, msg.agentId, (s) => (v.consented = s));
    else v.consented.delete(msg.agentId);
    this.hooks?.consentChanged(v, msg.agentId, msg.allow);
    for (const agent of asking) {
      v.pending.delete(agent);
      if (msg.allow) {
        const wanted = agent.target ? v.tabs.get(agent.target.tabId) : undefined;
        this.attach(agent, wanted ?? tab, tab.ip);
      } else {
        this.reset(agent);
        sendMessage(agent.ws, agent, { t: 'refused', visitorId: v.visitorId, reason: msg.reason ?? 'denied' });
      }
    }
  }

  /**
   * A grant answers a control request the relay passed on; a revoke ends control held (or denies a
   * request). Only an agent in the session can hold control. Anything else is ignored.
   */
  private onControl(v: Visitor, msg: ControlMsg): void {
    const asked = v.controlAsked.delete(msg.agentId);
    const holds = v.control.has(msg.agentId);
    const inSession = this.agentsOf(v).some((a) => a.agentId === msg.agentId);
    if (!inSession || !(asked || (holds && !msg.allow))) return this.ignoreAnswer();
    if (msg.allow !== holds) {
      this.metadata.activity(v.account.id, msg.allow ? 'control_granted' : 'control_revoked', { agentId: msg.agentId, visitorId: v.visitorId, userId: v.userId });
    }
    if (msg.allow) addTo(v.control, msg.agentId, (s) => (v.control = s));
    else v.control.delete(msg.agentId);
    this.tellControl(v, msg.agentId, msg.allow);
  }

  /** The visitor stops sharing with one agent, or with all. */
  private onEnd(v: Visitor, msg: EndMsg): void {
    this.endAgents(v, msg.agentId, msg.reason);
    // Cluster mode: the visitor's tabs on other relays have agents too; they end there as well.
    this.hooks?.visitorEnded(v, msg.agentId, msg.reason);
  }

  /** Another relay's visitor tab ended sharing (cluster `end-agents`): the same here, not sent on. */
  endAgentsFromElsewhere(accountId: string, visitorId: string, agentId: string | undefined, reason: EndMsg['reason']): void {
    const v = this.visitors.get(accountId, visitorId);
    if (v) this.endAgents(v, agentId, reason);
  }

  private endAgents(v: Visitor, agentId: string | undefined, reason: EndMsg['reason']): void {
    if (agentId !== undefined && v.consented.delete(agentId)) this.hooks?.consentChanged(v, agentId, false);
    for (const agent of this.agentsOf(v)) {
      if (agentId !== undefined && agent.agentId !== agentId) continue;
      v.consented.delete(agent.agentId);
      this.hooks?.consentChanged(v, agent.agentId, false);
      v.control.delete(agent.agentId);
      this.reset(agent);
      sendMessage(agent.ws, agent, { t: 'ended', visitorId: v.visitorId, reason: reason ?? 'visitor_stopped' });
    }
  }

  private onControlRefused(tab: TabData, msg: ControlRefusedMsg): void {
    // Only to that agent's sockets watching this tab: nobody else learns what was tried.
    for (const agent of tab.agents) {
      if (agent.agentId === msg.agentId) sendMessage(agent.ws, agent, { t: 'control-refused', visitorId: tab.visitor.visitorId, action: msg.action, reason: msg.reason });
    }
  }

  // ---------------------------------------------------------------- agent side

  /** The socket opened: completes the upgrade's data with its socket. */
  openAgent(init: AgentInit, ws: WebSocket<AgentData>): AgentData {
    const agent: AgentData = Object.assign(init, { ws });
    this.log.debug({ accountId: agent.accountId, agentId: agent.agentId, ip: agent.ip }, 'agent connected');
    this.agents.add(agent);
    this.metrics.gauges.agent_sockets++;
    return agent;
  }

  removeAgent(agent: AgentData): void {
    this.reset(agent, 'disconnected');
    this.backpressure.forget(agent);
    this.agents.delete(agent);
    clearTimeout(agent.expiryTimer);
    this.metrics.gauges.agent_sockets--;
  }

  onAgentMessage(agent: AgentData, msg: AgentToRelay): void {
    switch (msg.t) {
      case 'join':
        agent.e2eKey = msg.key;
        agent.e2eKeyToken = msg.keyToken;
        return this.join(agent, msg.visitorId, msg.tabId);
      case 'leave':
        return this.reset(agent);
      case 'resync':
        if (agent.state === 'watching' && agent.tab) requestSnapshot(agent.tab, this.metrics);
        return;
    }
    if (!AGENT_TOOL_TYPES.has(msg.t)) return;
    const tab = agent.tab;
    if (agent.state !== 'watching' || !tab) {
      sendMessage(agent.ws, agent, { t: 'error', code: 'not_in_session', message: `${msg.t} needs a joined session` });
      return;
    }
    if (CONTROL_ONLY_TYPES.has(msg.t) && !tab.visitor.control.has(agent.agentId)) {
      sendMessage(agent.ws, agent, { t: 'error', code: 'control_not_granted', message: `${msg.t} needs control granted by the visitor` });
      return;
    }
    if (msg.t === 'control-request' && !tab.visitor.controlAsked.has(agent.agentId)) {
      // The visitor's answer may write control_granted/revoked: a new request is budgeted.
      const refusal = this.limits.activity.take(agent.ip, agent.accountId);
      if (refusal) return closeWith(agent.ws, agent, refusal.name, refusal.message);
      const v = tab.visitor;
      addTo(v.controlAsked, agent.agentId, (s) => (v.controlAsked = s));
    }
    sendMessage(tab.ws, tab, { ...msg, agentId: agent.agentId });
  }

  // ---------------------------------------------------------------- internals

  private join(agent: AgentData, visitorId: string, tabId?: string): void {
    // Joining the visitor it is already with (a rejoin) keeps the agreement; anyone else ends it.
    this.reset(agent, agent.target?.visitor.visitorId === visitorId ? 'disconnected' : 'ended');
    const v = this.visitors.get(agent.accountId, visitorId);
    // A rejoin names the tab it watched. After a relay restart that tab may never come back (closed, or
    // reconnecting under a new tab id) while the visitor is online on another: take the visitor's most
    // recent tab then, as a follower would (addTab), or the agent would wait on "not found" forever.
    const tab = v && ((tabId !== undefined && v.tabs.get(tabId)) || this.mostRecentTab(v));
    if (!v || !tab) {
      // Same answer for "no such visitor" and "another account's visitor": nothing leaks.
      sendMessage(agent.ws, agent, { t: 'refused', visitorId, reason: 'not_found' });
      return;
    }
    // A session writes activity (requested, answered, ended) and log lines: budgeted per address and account.
    const refusal = this.limits.activity.take(agent.ip, agent.accountId);
    if (refusal) return closeWith(agent.ws, agent, refusal.name, refusal.message);
    agent.target = { visitor: v, tabId: tab.tabId };
    if (!v.account.requireConsent || this.hasConsent(v, agent.agentId)) {
      this.attach(agent, tab, agent.ip);
      return;
    }
    this.metadata.activity(v.account.id, 'session_requested', { agentId: agent.agentId, visitorId: v.visitorId, userId: v.userId });
    agent.state = 'pending';
    addTo(v.pending, agent, (s) => (v.pending = s));
    // The agent's view must not keep saying "not connected" (a rejoin after not_found) while the visitor is asked.
    sendMessage(agent.ws, agent, { t: 'consent-pending', visitorId: v.visitorId });
    sendMessage(tab.ws, tab, { t: 'consent-request', agent: agentInfo(agent) });
  }

  /**
   * The visitor is on this tab now: agents watching another of their tabs, or waiting for a tab
   * that went away, move here without a new prompt (consent is the visitor's, not the tab's).
   * Control is per page, so it ends with the move and must be asked for again. A pending consent
   * prompt is shown here too.
   */
  private followActiveTab(tab: TabData): void {
    const v = tab.visitor;
    if (tab.closed) return;
    const mayWatch = (agent: AgentData) => !v.account.requireConsent || this.hasConsent(v, agent.agentId);
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
        if (![...other.agents].some((a) => a.agentId === agentId)) sendMessage(other.ws, other, { t: 'agent-left', agentId, reason: 'moved' });
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
      sendMessage(tab.ws, tab, { t: 'consent-request', agent: agentInfo(agent) });
    }
    this.hooks?.tabActive(tab);
  }

  /** Consent given here, or (cluster mode) on another relay. */
  private hasConsent(v: Visitor, agentId: string): boolean {
    if (v.consented.has(agentId)) return true;
    if (!this.hooks?.consented(v, agentId)) return false;
    addTo(v.consented, agentId, (s) => (v.consented = s));
    return true;
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
    for (const a of sockets) sendMessage(a.ws, a, { t: 'control', visitorId: v.visitorId, allow });
  }

  /** `causeIp`: the address of the client whose action this is, for the log budget. */
  private attach(agent: AgentData, tab: TabData, causeIp: string): void {
    if (agent.closed) return;
    this.limits.log.info(causeIp, { accountId: tab.account.id, visitorId: tab.visitorId, tabId: tab.tabId, agentId: agent.agentId }, 'agent joined');
    agent.state = 'watching';
    agent.tab = tab;
    agent.target = { visitor: tab.visitor, tabId: tab.tabId };
    tab.watched().agents.add(agent);
    if (!agent.lagging) agent.ws.subscribe(tab.topic);
    sendMessage(agent.ws, agent, { t: 'joined', visitorId: tab.visitorId, tabId: tab.tabId, url: tab.url, title: tab.title });
    // The visitor always learns who is watching (the sharing bar), with or without a consent prompt.
    sendMessage(tab.ws, tab, { t: 'agent-joined', agent: agentInfo(agent) });
    requestSnapshot(tab, this.metrics);
  }

  /** Unsubscribes from the current tab, keeping the target. */
  private detach(agent: AgentData): void {
    const tab = agent.tab;
    if (!tab) return;
    tab.watch?.agents.delete(agent);
    agent.tab = undefined;
    if (!agent.closed) {
      try {
        agent.ws.unsubscribe(tab.topic);
      } catch {
        /* closed */
      }
    }
  }

  /**
   * Back to idle: out of any session, pending list or follower list. `ended` (End session, or
   * watching someone else) also ends the visitor's agreement: coming back needs a new prompt.
   * `disconnected` keeps it, so a viewer that reconnects resumes (the visitor is told either way).
   */
  reset(agent: AgentData, why: 'ended' | 'disconnected' = 'ended'): void {
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
        if (why === 'ended') {
          v.consented.delete(agent.agentId);
          this.hooks?.consentChanged(v, agent.agentId, false);
        }
        for (const tab of v.tabs.values()) sendMessage(tab.ws, tab, { t: 'agent-left', agentId: agent.agentId, reason: why });
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
}
