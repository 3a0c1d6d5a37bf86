/**
 * On the visitor's relay: agents connected to other relays. Each acts here through a proxy agent
 * whose "socket" sends over NATS to the agent's relay, so the session router runs join, consent,
 * control, tools, follow and resync for them exactly as for its own agents, and any control message
 * type the protocol gains later crosses without a change here. Frames go once per watching relay,
 * not once per agent (`forward`).
 */
import type { RecognizedString, WebSocket } from 'uWebSockets.js';
import { parseAgentMessage } from '../../protocol/index.ts';
import type { ClusterEnvelope, RemoteAgentRef } from '../../protocol/cluster.ts';
import type { Metrics } from '../metrics.ts';
import type { RemoteFanout } from '../sessions/publish.ts';
import type { SessionRouter } from '../sessions/router.ts';
import type { AgentData, TabData } from '../sessions/types.ts';
import { TokenBucket } from '../limits/tokenBucket.ts';
import type { ClusterBus } from './bus.ts';

interface Proxy {
  agent: AgentData;
  home: string;
  sid: string;
  topics: Set<string>;
}

export class RemoteAgents implements RemoteFanout {
  private readonly proxies = new Map<string, Proxy>();
  private readonly byAgent = new WeakMap<AgentData, Proxy>();
  /** topic -> relay -> how many of its agents' proxies watch it. */
  private readonly interest = new Map<string, Map<string, number>>();

  constructor(
    private readonly router: SessionRouter,
    private readonly bus: ClusterBus,
    private readonly metrics: Metrics,
    private readonly maxRemoteAgents: number,
  ) {}

  /** An agent message from another relay's agent socket. */
  onAgentMessage(env: Extract<ClusterEnvelope, { op: 'agent-msg' }>): void {
    const parsed = parseAgentMessage(JSON.stringify(env.msg));
    if (!parsed.ok) {
      this.metrics.counters.cluster_bad_messages_total++;
      return;
    }
    const key = `${env.from}/${env.agent.sid}`;
    let p = this.proxies.get(key);
    if (p && (p.agent.accountId !== env.agent.accountId || p.agent.agentId !== env.agent.agentId)) {
      this.metrics.counters.cluster_bad_messages_total++;
      return;
    }
    if (!p) {
      if (this.proxies.size >= this.maxRemoteAgents) {
        this.bus.send(env.from, { op: 'to-agent', sid: env.agent.sid, text: JSON.stringify({ t: 'error', code: 'overloaded', message: 'the visitor\'s relay has too many remote agents' }) });
        return;
      }
      p = this.create(env.from, env.agent);
      this.proxies.set(key, p);
      this.byAgent.set(p.agent, p);
      this.metrics.gauges.cluster_remote_agents = this.proxies.size;
    }
    this.router.onAgentMessage(p.agent, parsed.msg);
  }

  /** The agent's socket closed on its relay (or that relay died): out of every session, kept consent. */
  gone(home: string, sid: string): void {
    const key = `${home}/${sid}`;
    const p = this.proxies.get(key);
    if (!p) return;
    this.proxies.delete(key);
    this.metrics.gauges.cluster_remote_agents = this.proxies.size;
    if (!p.agent.closed) this.router.reset(p.agent, 'disconnected');
    p.agent.closed = true;
    for (const topic of p.topics) this.uninterest(topic, home);
    p.topics.clear();
  }

  nodeDead(node: string): void {
    for (const p of [...this.proxies.values()]) if (p.home === node) this.gone(node, p.sid);
  }

  /** The proxy's relay and socket id, when `agent` is one of this relay's proxies. */
  homeOf(agent: AgentData): { home: string; sid: string } | undefined {
    const p = this.byAgent.get(agent);
    return p && { home: p.home, sid: p.sid };
  }

  /** Tab topics other relays watch here. */
  watchedTopics(): string[] {
    return [...this.interest.keys()];
  }

  /** RemoteFanout: one copy of the tab's message to each relay watching it. */
  forward(tab: TabData, message: RecognizedString, isBinary: boolean): void {
    const nodes = this.interest.get(tab.topic);
    if (!nodes) return;
    const bytes = toBytes(message);
    for (const node of nodes.keys()) this.bus.sendFrame(node, tab.topic, bytes, isBinary);
  }

  private create(home: string, ref: RemoteAgentRef): Proxy {
    const topics = new Set<string>();
    const p: Proxy = { home, sid: ref.sid, topics, agent: undefined as unknown as AgentData };
    const send = (text: string) => this.bus.send(home, { op: 'to-agent', sid: ref.sid, text });
    const ws = {
      send: (m: RecognizedString) => (send(typeof m === 'string' ? m : Buffer.from(toBytes(m)).toString('utf8')), 1),
      subscribe: (topic: string) => {
        if (!topics.has(topic)) {
          topics.add(topic);
          this.interested(topic, home);
        }
        this.bus.send(home, { op: 'watch', sid: ref.sid, topic });
        return true;
      },
      unsubscribe: (topic: string) => {
        if (topics.delete(topic)) this.uninterest(topic, home);
        this.bus.send(home, { op: 'unwatch', sid: ref.sid, topic });
        return true;
      },
      end: (code: number, reason: string) => {
        this.bus.send(home, { op: 'close-agent', sid: ref.sid, code, message: String(reason).slice(0, 256) });
        queueMicrotask(() => this.gone(home, ref.sid));
      },
      getBufferedAmount: () => 0,
    };
    p.agent = {
      kind: 'agent',
      ip: ref.ip,
      closed: false,
      // Its messages were counted by its own relay.
      msgs: new TokenBucket(1, 1),
      accountId: ref.accountId,
      agentId: ref.agentId,
      name: ref.name,
      exp: ref.exp,
      state: 'idle',
      lagging: false,
      laggingSince: 0,
      resyncTimes: [],
      ws: ws as unknown as WebSocket<AgentData>,
    };
    return p;
  }

  private interested(topic: string, node: string): void {
    let m = this.interest.get(topic);
    if (!m) this.interest.set(topic, (m = new Map()));
    m.set(node, (m.get(node) ?? 0) + 1);
  }

  private uninterest(topic: string, node: string): void {
    const m = this.interest.get(topic);
    if (!m) return;
    const n = (m.get(node) ?? 0) - 1;
    if (n > 0) m.set(node, n);
    else m.delete(node);
    if (m.size === 0) this.interest.delete(topic);
  }
}

function toBytes(m: RecognizedString): Uint8Array {
  if (typeof m === 'string') return Buffer.from(m, 'utf8');
  if (m instanceof ArrayBuffer) return new Uint8Array(m);
  if (ArrayBuffer.isView(m)) return new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
  return new Uint8Array(m as SharedArrayBuffer);
}
