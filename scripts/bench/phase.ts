/**
 * One measured phase: open a session (1 visitor, N agents, some of them optionally in the
 * agent-host process), send frames on a fixed schedule (open loop), let the agents drain,
 * and account for what happened, with the relay's CPU and RSS read over IPC at the edges
 * of the window.
 */
import fs from 'node:fs';
import { Agent, nowMs, Sink, Visitor } from './load.ts';
import type { AgentHost, AgentStatus, RemoteView } from './remoteAgents.ts';
import type { RelayHandle } from './relayHandle.ts';

export interface PhaseOptions {
  agents: number;
  /** How many of the agents live in the agent-host process (the highest indices). */
  remoteAgents?: number;
  kind: number;
  size: number;
  /** Frames per second on the schedule; Infinity = as fast as the backlog cap lets the generator go. */
  rate: number;
  /** Stop scheduling after this long ... */
  durationMs?: number;
  /** ... or after this many frames (whichever comes first). */
  count?: number;
  /** At most this many frames in flight (sent but not yet received by the slowest reading agent). */
  window?: number;
  /** The generator holds frames back (they stay due, so their latency grows) while the visitor's socket has this much unsent. */
  backlogBytes: number;
  /** Longest wait for the agents to receive everything after the last send. */
  drainMs: number;
  /** During a connect storm: keep trying this long if admission sheds the session's visitor. */
  retryShedForMs?: number;
  /** Agents (by index, local ones only) that stop reading right after joining. */
  pausedAgents?: number[];
  /** Runs after sending and draining, before the session is closed (e.g. to resume a paused agent). */
  afterDrain?: (s: LocalSession, r: PhaseResult) => Promise<void>;
}

export interface PhaseResult {
  sent: number;
  /** Scheduled frames that the generator could not send before the end of the schedule. */
  unsent: number;
  /** How many times sending was held back because the visitor socket's backlog was over the cap. */
  heldBack: number;
  startAt: number;
  elapsedMs: number;
  sink: Sink;
  /** Over the agents that kept reading: */
  deliveries: number;
  bytes: number;
  gaps: number;
  outOfOrder: number;
  resyncs: number;
  /** Relay process CPU over the window, µs (user + system), and the system (kernel) part of it. */
  relayCpuUs: number;
  relaySysUs: number;
  /** Generator CPU (this process + the agent host) over the window, µs; and each process's part. */
  genCpuUs: number;
  genLocalCpuUs: number;
  genHostCpuUs: number;
  /** Wall time over which the CPU figures were taken (send start to drain end), ms. */
  windowMs: number;
  /** CPU used over the window by processes other than the relay and the generator (noise), µs; -1 when unknown. */
  otherCpuUs: number;
  /** Machine-wide irq + softirq CPU over the window (loopback TCP work not charged to any process), µs; -1 when unknown. */
  irqCpuUs: number;
  rssStart: number;
  rssMax: number;
  rssEnd: number;
  /** Largest total of bytes the relay held queued for agents, sampled every ~200 ms. */
  bufferedMax: number;
  /** Relay counters: change over the window, and their absolute values at its start. */
  counters: Record<string, number>;
  countersBefore: Record<string, number>;
}

export interface LocalSession {
  visitor: Visitor;
  /** Agents in this process, by index (remote ones are absent). */
  agents: Agent[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Machine-wide CPU from /proc/stat, µs: user+nice+system (processes) and irq+softirq (e.g. loopback TCP receive work). */
export function machineCpu(): { proc: number; irq: number } | undefined {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const jiffy = 1e6 / 100; // USER_HZ = 100
    return { proc: (f[0] + f[1] + f[2]) * jiffy, irq: (f[5] + f[6]) * jiffy };
  } catch {
    return undefined; // not Linux
  }
}

/**
 * Waits (at most `maxMs`) until the machine is quiet: under `pct`% of one core busy in
 * processes over a 250 ms sample. Returns how long it waited.
 */
export async function waitForQuiet(maxMs: number, pct = 10): Promise<number> {
  const t0 = nowMs();
  while (nowMs() - t0 < maxMs) {
    const a = machineCpu();
    if (!a) return 0;
    const s = nowMs();
    await sleep(250);
    const b = machineCpu()!;
    if (((b.proc - a.proc) / 1000 / (nowMs() - s)) * 100 < pct) break;
  }
  return nowMs() - t0;
}

export async function runPhase(relay: RelayHandle, o: PhaseOptions, host?: AgentHost): Promise<PhaseResult> {
  const { port, publicKey, tokens } = relay.info;
  if (o.agents > tokens.length) throw new Error(`need ${o.agents} agent tokens, have ${tokens.length}`);
  const nRemote = host ? Math.min(o.remoteAgents ?? 0, o.agents) : 0;
  const nLocal = o.agents - nRemote;
  const dialect = relay.info.dialect ?? 'plain';
  const visitor = await Visitor.connect(port, publicKey, { dialect, retryShedForMs: o.retryShedForMs });
  const agents: Agent[] = [];
  try {
    for (let i = 0; i < nLocal; i++) agents.push(await Agent.connect(port, tokens[i], i, { dialect }));
    for (const a of agents) await a.join(visitor.visitorId);
    if (host && nRemote > 0) {
      const indices = Array.from({ length: nRemote }, (_, k) => nLocal + k);
      await host.connect(port, indices.map((i) => tokens[i]), indices, visitor.visitorId, dialect);
    }
    return await drive(relay, { visitor, agents }, o, nRemote > 0 ? host : undefined);
  } finally {
    const closing: Promise<unknown>[] = [visitor.ws.closed, ...agents.map((a) => a.ws.closed)];
    for (const a of agents) if (a.paused) a.resume();
    visitor.close();
    for (const a of agents) a.close();
    if (host && nRemote > 0) closing.push(host.close().catch(() => undefined));
    await Promise.race([Promise.all(closing), sleep(3000)]);
    visitor.terminate();
    for (const a of agents) a.terminate();
  }
}

type View = Agent | RemoteView;

async function drive(relay: RelayHandle, session: LocalSession, o: PhaseOptions, host: AgentHost | undefined): Promise<PhaseResult> {
  const { visitor, agents } = session;
  const paused = new Set(o.pausedAgents ?? []);
  for (const i of paused) agents[i].pause();
  const readingLocal = agents.filter((_, i) => !paused.has(i));
  const sink = new Sink();
  for (const a of readingLocal) a.sink = sink;
  const windowed = o.window !== undefined;
  if (host) await host.begin(windowed ? Math.max(1, Math.floor(o.window! / 16)) : 0);
  const views = (): View[] => [...readingLocal, ...(host?.views ?? [])];
  // Let the join's snapshot-request and any connection set-up work settle.
  await sleep(100);

  const before = await relay.stats();
  let rssMax = before.rss;
  let bufferedMax = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await sleep(200);
      if (!polling) break;
      const s = await relay.stats().catch(() => undefined);
      if (s) {
        rssMax = Math.max(rssMax, s.rss);
        bufferedMax = Math.max(bufferedMax, s.gauges.agent_buffered_bytes ?? 0);
      }
    }
  })();
  const genBefore = process.cpuUsage();
  const busyBefore = machineCpu();
  const windowStart = nowMs();

  // ---- send on the schedule
  const interval = Number.isFinite(o.rate) ? 1000 / o.rate : 0;
  const maxCount = o.count ?? Number.MAX_SAFE_INTEGER;
  const window = o.window ?? Number.MAX_SAFE_INTEGER;
  const maxBatchBytes = Math.max(o.size, 256 * 1024);
  const startAt = nowMs() + 2;
  const stopAt = startAt + (o.durationMs ?? 3_600_000);
  let seq = 0;
  let unsent = 0;
  let heldBack = 0;
  const inflight = () => {
    let min = Number.MAX_SAFE_INTEGER;
    for (const a of views()) if (a.closeCode === undefined && a.expected < min) min = a.expected;
    return min === Number.MAX_SAFE_INTEGER ? 0 : seq - min;
  };
  await new Promise<void>((resolve) => {
    let wake: (() => void) | undefined;
    const onProgress = () => wake?.();
    if (windowed) {
      for (const a of readingLocal) a.onFrameHook = onProgress;
      if (host) host.onProgress = onProgress;
    }
    const tick = () => {
      wake = undefined;
      const now = nowMs();
      if (seq >= maxCount || now >= stopAt) {
        if (interval > 0) unsent = Math.max(0, Math.min(maxCount, Math.floor((Math.min(now, stopAt) - startAt) / interval) + 1) - seq);
        for (const a of readingLocal) a.onFrameHook = undefined;
        if (host) host.onProgress = undefined;
        return resolve();
      }
      if (now < startAt) return void setTimeout(tick, Math.ceil(startAt - now));
      const due = interval > 0 ? Math.min(maxCount, Math.floor((now - startAt) / interval) + 1) : maxCount;
      let batch = 0;
      let blockedByWindow = false;
      let blockedByBacklog = false;
      while (seq < due && batch < maxBatchBytes) {
        if (inflight() >= window) {
          blockedByWindow = true;
          break;
        }
        if (visitor.bufferedAmount >= o.backlogBytes) {
          blockedByBacklog = true;
          heldBack++;
          break;
        }
        visitor.send(o.kind, o.size, seq, interval > 0 ? startAt + seq * interval : nowMs());
        seq++;
        batch += o.size;
      }
      if (blockedByWindow) {
        // Wait for an agent to receive something (or 1 ms, whichever first).
        const t = setTimeout(tick, 1);
        wake = () => {
          clearTimeout(t);
          wake = undefined;
          setImmediate(tick);
        };
      } else if (blockedByBacklog) setTimeout(tick, 1); // the relay is not reading fast enough: let it drain
      else if (seq < due) setImmediate(tick); // behind schedule: go again right after I/O
      else setTimeout(tick, Math.max(0, startAt + seq * interval - nowMs() - 1)); // ahead: sleep (timers have ~1 ms resolution)
    };
    tick();
  });
  const sent = seq;

  // ---- drain
  const drainUntil = nowMs() + o.drainMs;
  while (nowMs() < drainUntil) {
    if (host) await host.refresh();
    if (views().every((a) => a.expected >= sent || a.closeCode !== undefined || a.resyncs > 0)) break;
    await sleep(host ? 5 : 2);
  }
  const genCpu = process.cpuUsage(genBefore);
  const after = await relay.stats();
  const busyAfter = machineCpu();
  const windowMs = nowMs() - windowStart;
  polling = false;
  await poller;
  rssMax = Math.max(rssMax, after.rss);
  bufferedMax = Math.max(bufferedMax, after.gauges.agent_buffered_bytes ?? 0);

  let hostCpuUs = 0;
  let remote: AgentStatus[] = [];
  if (host) {
    const c = await host.collect(sink);
    hostCpuUs = c.cpuUs;
    remote = c.agents;
  }
  let gaps = 0;
  let outOfOrder = 0;
  let resyncs = 0;
  for (const a of [...readingLocal, ...remote]) {
    gaps += a.gaps + Math.max(0, sent - a.expected); // holes, plus the tail that never came
    outOfOrder += a.outOfOrder;
    resyncs += a.resyncs;
  }
  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.counters)) counters[k] = v - (before.counters[k] ?? 0);
  const end = sink.lastRecvAt || nowMs();
  const result: PhaseResult = {
    sent,
    unsent,
    heldBack,
    startAt,
    elapsedMs: Math.max(1, end - startAt),
    sink,
    deliveries: sink.deliveries,
    bytes: sink.bytes,
    gaps,
    outOfOrder,
    resyncs,
    relayCpuUs: after.user + after.system - before.user - before.system,
    relaySysUs: after.system - before.system,
    genCpuUs: genCpu.user + genCpu.system + hostCpuUs,
    genLocalCpuUs: genCpu.user + genCpu.system,
    genHostCpuUs: hostCpuUs,
    windowMs,
    otherCpuUs: busyBefore && busyAfter ? Math.max(0, busyAfter.proc - busyBefore.proc - (after.user + after.system - before.user - before.system) - genCpu.user - genCpu.system - hostCpuUs) : -1,
    irqCpuUs: busyBefore && busyAfter ? busyAfter.irq - busyBefore.irq : -1,
    rssStart: before.rss,
    rssMax,
    rssEnd: after.rss,
    bufferedMax,
    counters,
    countersBefore: before.counters,
  };
  if (o.afterDrain) await o.afterDrain(session, result);
  return result;
}
