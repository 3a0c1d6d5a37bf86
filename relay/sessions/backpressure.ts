/**
 * Slow agents (docs/protocol.md, "Backpressure"): past the soft limit an agent is unsubscribed and
 * told `resync`; drained, it is resubscribed and the visitor asked for a snapshot; behind for too
 * long, resynced too often, or over the global cap, it is closed. The visitor and the other agents
 * are never slowed.
 */
import { Close } from '../../protocol/index.ts';
import type { RelayConfig } from '../config.ts';
import type { ClientLimits } from '../limits/clientLimits.ts';
import type { Metrics } from '../metrics.ts';
import { sendMessage } from './send.ts';
import { requestSnapshot } from './snapshots.ts';
import type { AgentData, TabData } from './types.ts';

/**
 * An agent's buffer is read (a call into uWS per agent) once this many bytes were published to its
 * tab since the last look, not after every small frame: the soft limit (8 MiB by default) is then
 * overshot by at most this much plus one frame.
 */
const CHECK_EVERY_BYTES = 64 * 1024;

export class Backpressure {
  constructor(
    private readonly agents: ReadonlySet<AgentData>,
    private readonly config: RelayConfig,
    private readonly metrics: Metrics,
    private readonly limits: ClientLimits,
  ) {}

  /**
   * Called after each publish to the tab: marks agents past the soft limit lagging (unsubscribed),
   * and returns how many agents the message went to.
   */
  afterPublish(tab: TabData, bytes: number): number {
    const w = tab.watched();
    const look = (w.uncheckedBytes += bytes) >= CHECK_EVERY_BYTES;
    if (look) w.uncheckedBytes = 0;
    return this.afterPublishTo(w.agents, look);
  }

  /**
   * The same for any set of agents (cluster mode: this relay's watchers of another relay's tab);
   * `look`: read their send buffers this time (a local tab reads them once per CHECK_EVERY_BYTES).
   */
  afterPublishTo(agents: Iterable<AgentData>, look = true): number {
    const soft = this.config.agentSoftBackpressure;
    let delivered = 0;
    for (const agent of agents) {
      if (agent.lagging) continue;
      delivered++;
      if (look && agent.ws.getBufferedAmount() > soft) this.markLagging(agent);
    }
    return delivered;
  }

  /** Drain: a lagging agent that caught up is resubscribed and gets a fresh snapshot. */
  onDrain(agent: AgentData): void {
    if (!agent.lagging) return;
    if (agent.ws.getBufferedAmount() > this.config.agentSoftBackpressure / 4) return;
    agent.lagging = false;
    this.metrics.gauges.agents_lagging--;
    if (agent.state === 'watching' && agent.tab) {
      agent.ws.subscribe(agent.tab.topic);
      requestSnapshot(agent.tab, this.metrics);
    } else if (agent.remote?.topic) {
      agent.ws.subscribe(agent.remote.topic);
      this.onRemoteDrain?.(agent);
    }
  }

  /** Cluster mode: a drained agent watching another relay's tab needs a snapshot from that relay. */
  onRemoteDrain?: (agent: AgentData) => void;

  /** Periodic: close agents stuck behind for too long, and enforce the global buffer cap. */
  sweep(now = Date.now()): void {
    let total = 0;
    const buffered: Array<[AgentData, number]> = [];
    for (const agent of this.agents) {
      if (agent.closed) continue;
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

  /** The agent's socket is gone: it no longer counts as lagging. */
  forget(agent: AgentData): void {
    if (agent.lagging) this.metrics.gauges.agents_lagging--;
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
    const topic = agent.tab?.topic ?? agent.remote?.topic;
    if (topic) agent.ws.unsubscribe(topic);
    // Queued behind what is already buffered, so the agent learns of the gap in order.
    sendMessage(agent.ws, agent, { t: 'resync' });
  }

  private closeSlow(agent: AgentData, message: string, name: 'slowConsumer' | 'overloaded' = 'slowConsumer'): void {
    if (agent.closed) return;
    this.metrics.counters.slow_agents_closed_total++;
    this.limits.log.info(agent.ip, { agentId: agent.agentId, reason: Close[name].reason, detail: message }, 'closing slow agent');
    // No error message first: the agent is not reading, and the close code says it all.
    agent.closed = true;
    try {
      agent.ws.end(Close[name].code, Close[name].reason);
    } catch {
      /* gone */
    }
  }
}
