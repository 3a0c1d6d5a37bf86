/**
 * Cluster mode (NATS_URL set; docs/cluster.md): this relay's part in a cluster of relays sharing
 * visitors, agents and presence over NATS. It plugs into the seams the relay already has: the
 * router's hooks and publisher (sessions/), the visitor directory, erasure and account services;
 * the socket and HTTP transports do not change.
 */
import type { AgentToRelay } from '../../protocol/index.ts';
import type { ClusterEnvelope } from '../../protocol/cluster.ts';
import type { AccountService } from '../accounts.ts';
import type { RelayConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { SessionRouter } from '../sessions/router.ts';
import { requestSnapshot } from '../sessions/snapshots.ts';
import type { AgentData, TabData, Visitor } from '../sessions/types.ts';
import { closeRevokedAgents } from '../sockets/revokeAgents.ts';
import { AgentLinks } from './agentLinks.ts';
import { ClusterBus } from './bus.ts';
import { CodeClaims } from './codes.ts';
import { connectCluster, type ClusterConnection } from './connection.ts';
import { SharedConsent } from './consent.ts';
import { Presence, type RemoteTab } from './presence.ts';
import { RemoteAgents } from './remoteAgents.ts';

export interface ClusterDeps {
  config: RelayConfig;
  router: SessionRouter;
  accounts: AccountService;
  metrics: Metrics;
  log: Logger;
  relaySecret: Buffer;
  lookupCodeTtlMs: number;
}

export interface VisitorMatch {
  visitorIds?: string[];
  userIds?: string[];
  emails?: string[];
}

export class Cluster {
  readonly nodeId: string;
  private readonly presence: Presence;
  private readonly bus: ClusterBus;
  private readonly remoteAgents: RemoteAgents;
  private readonly links: AgentLinks;
  private readonly consent: SharedConsent;
  private readonly codes: CodeClaims;

  private constructor(
    private readonly conn: ClusterConnection,
    private readonly d: ClusterDeps,
  ) {
    const { config, router, metrics, log } = d;
    this.nodeId = config.nodeId;
    metrics.gauges.cluster_nats_connected = 1;
    conn.onChange((up) => {
      metrics.gauges.cluster_nats_connected = up ? 1 : 0;
      if (!up) return this.links.natsDown();
      // Either side may come back first: both ask, so one of the snapshots gets through.
      for (const topic of this.remoteAgents.watchedTopics()) {
        const tab = this.localTab(topic);
        if (tab) requestSnapshot(tab, metrics);
      }
      this.links.natsUp();
    });
    this.bus = new ClusterBus(conn, config.nodeId, config.maxPayloadBytes, config.clusterMaxPendingBytes, metrics, log, {
      envelope: (env) => this.onEnvelope(env),
      frame: (frame, from) => {
        this.links.onFrame(frame, from);
        metrics.gauges.cluster_reassembly_bytes = this.bus.pendingBytes;
      },
      lost: (topic, from) => this.links.onLost(topic, from),
      gapped: (topic) => {
        const tab = this.localTab(topic);
        if (tab) requestSnapshot(tab, metrics);
      },
    });
    const localTabs = function* () {
      for (const v of router.visitors.values()) yield* v.tabs.values();
    };
    const holds = (a: string, v: string, t: string) => !!router.visitorOf(a, v)?.tabs.has(t);
    this.presence = new Presence(conn, config.nodeId, d.relaySecret, localTabs, holds, {
      nodeDead: (node) => {
        this.remoteAgents.nodeDead(node);
        this.links.nodeDead(node);
      },
      tabSeen: (tab) => {
        this.links.tabSeen(tab);
        this.followersTo(tab);
      },
    }, metrics, log);
    this.remoteAgents = new RemoteAgents(router, this.bus, metrics, config.clusterMaxRemoteAgents);
    this.links = new AgentLinks(config.nodeId, router, this.bus, this.presence, metrics);
    this.consent = new SharedConsent(conn, () => router.visitors.values(), metrics, log, config.clusterConsentRefreshMs);
    this.codes = new CodeClaims(conn, d.lookupCodeTtlMs, metrics);
  }

  static async start(d: ClusterDeps): Promise<Cluster> {
    const conn = await connectCluster(d.config.natsUrl!, d.config.nodeId, d.log);
    const c = new Cluster(conn, d);
    c.bus.start();
    await c.presence.start(d.config.clusterStartTimeoutMs);
    await c.consent.start(d.config.clusterStartTimeoutMs);
    const { router } = d;
    router.publisher.remote = c.remoteAgents;
    router.backpressure.onRemoteDrain = (agent) => c.links.onDrain(agent);
    router.hooks = {
      tabOpened: (tab) => {
        c.presence.announce(tab);
        c.links.localTabOpened(tab);
      },
      tabChanged: (tab) => c.presence.announce(tab),
      tabClosed: (tab) => c.presence.withdraw(tab),
      tabActive: (tab) => c.tabActive(tab),
      consented: (v, agentId) => c.consent.has(v, agentId),
      consentChanged: (v, agentId, allow) => c.consent.set(v, agentId, allow),
      visitorEnded: (v, agentId, reason) => c.bus.broadcast({ op: 'end-agents', accountId: v.account.id, visitorId: v.visitorId, ...(agentId !== undefined ? { agentId } : {}), ...(reason !== undefined ? { reason } : {}) }),
    };
    d.log.info({ node: d.config.nodeId }, 'cluster mode: joined the relays on NATS');
    return c;
  }

  async stop(): Promise<void> {
    await this.presence.stop();
    this.consent.stop();
    this.bus.stop();
    await this.conn.close();
  }

  // ---------------------------------------------------------------- for the transports and services

  /** An agent message: true when it went to the visitor's relay, false for this relay's router. */
  routeAgentMessage(agent: AgentData, msg: AgentToRelay): boolean {
    return this.links.route(agent, msg);
  }

  agentClosed(agent: AgentData): void {
    this.links.closed(agent);
  }

  /** Visitors of the account online on other relays (matching ids, user ids or emails if given). */
  online(accountId: string, match?: VisitorMatch): string[] {
    const ids = new Set(match?.visitorIds ?? []);
    const users = new Set((match?.userIds ?? []).map((u) => this.presence.hash('user', accountId, u)));
    const emails = new Set((match?.emails ?? []).map((e) => this.presence.hash('email', accountId, e.toLowerCase())));
    const out = new Set<string>();
    for (const t of this.presence.visitors(accountId)) {
      if (!match || ids.has(t.visitorId) || (t.userKey && users.has(t.userKey)) || (t.emailKey && emails.has(t.emailKey))) out.add(t.visitorId);
    }
    return [...out];
  }

  isOnline(accountId: string, visitorId: string): boolean {
    return this.presence.tabsOf(accountId, visitorId).length > 0;
  }

  /** The visitor's identity changed (identify): its presence entries carry the new hashes. */
  visitorChanged(v: Visitor): void {
    for (const tab of v.tabs.values()) this.presence.announce(tab);
  }

  /** An erasure here: every relay closes the visitors' tabs (4004). */
  endVisitorsEverywhere(accountId: string, visitorIds: string[]): void {
    for (let i = 0; i < visitorIds.length; i += 1000) this.bus.broadcast({ op: 'end-visitors', accountId, visitorIds: visitorIds.slice(i, i + 1000) });
  }

  /** A secret rotation here: every relay drops its cached key and closes revoked agent sockets. */
  rotated(accountId: string): void {
    this.bus.broadcast({ op: 'rotated', accountId });
  }

  claimCode(accountId: string, visitorId: string): Promise<string> {
    return this.codes.claim(accountId, visitorId);
  }

  // ---------------------------------------------------------------- from other relays

  private onEnvelope(env: ClusterEnvelope): void {
    const { router, accounts, log } = this.d;
    switch (env.op) {
      case 'agent-msg':
        return this.remoteAgents.onAgentMessage(env);
      case 'agent-gone':
        return this.remoteAgents.gone(env.from, env.sid);
      case 'resync': {
        const tab = this.localTab(env.topic);
        if (tab) return requestSnapshot(tab, this.d.metrics);
        return this.links.onEnvelope(env);
      }
      case 'end-visitors':
        return router.endVisitors(env.accountId, env.visitorIds);
      case 'end-agents':
        return router.endAgentsFromElsewhere(env.accountId, env.visitorId, env.agentId, env.reason);
      case 'rotated':
        accounts.forget(env.accountId);
        accounts.byIdUncached(env.accountId).then(
          (account) => account && closeRevokedAgents(router.agents, account.id, account.secretHash),
          (err) => log.warn({ err: (err as Error).message }, 'revocation after a rotation elsewhere failed; the periodic check retries'),
        );
        return;
      case 'tab-active':
        return this.followElsewhere(env.from, env.accountId, env.visitorId, env.tabId);
      default:
        return this.links.onEnvelope(env);
    }
  }

  private localTab(topic: string): TabData | undefined {
    const [, accountId, visitorId, tabId] = topic.split('/');
    return this.d.router.visitorOf(accountId, visitorId)?.tabs.get(tabId);
  }

  /**
   * A navigation landed on another relay: agents following the visitor here (its tab went away,
   * none came back here) go there, this relay's own directly, other relays' via their relay.
   */
  private followersTo(tab: RemoteTab): void {
    const v = this.d.router.visitorOf(tab.accountId, tab.visitorId);
    if (!v || v.tabs.size > 0 || v.followers.size === 0) return;
    for (const agent of [...v.followers]) {
      const proxy = this.remoteAgents.homeOf(agent);
      if (proxy) this.links.sendFollow(proxy.home, proxy.sid, tab.node, tab.visitorId, tab.tabId);
      else if (this.d.router.agents.has(agent)) this.links.moveToRemote(agent, tab.node, tab.visitorId, tab.tabId);
    }
  }

  /** The visitor is active on this relay's tab: agents watching its tabs on other relays follow. */
  private tabActive(tab: TabData): void {
    this.links.followTo(this.nodeId, tab.account.id, tab.visitorId, tab.tabId);
    this.bus.broadcast({ op: 'tab-active', accountId: tab.account.id, visitorId: tab.visitorId, tabId: tab.tabId });
  }

  /** The visitor went active on `node`: this relay's agents watching it (here or elsewhere) move there. */
  private followElsewhere(node: string, accountId: string, visitorId: string, tabId: string): void {
    this.links.followTo(node, accountId, visitorId, tabId);
    const v = this.d.router.visitorOf(accountId, visitorId);
    if (!v) return;
    for (const t of v.tabs.values()) {
      for (const agent of [...t.agents]) {
        if (!this.d.router.agents.has(agent)) continue; // a proxy: its own relay moves it
        this.links.moveToRemote(agent, node, visitorId, tabId);
      }
    }
  }
}
