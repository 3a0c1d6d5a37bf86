/**
 * One measured phase: open a session (1 visitor, N agents), send frames on a fixed
 * schedule (open loop), let the agents drain, and account for what happened, with the
 * relay's CPU and RSS read over IPC at the edges of the window.
 */
import { closeSession, nowMs, openSession, Sink, type Agent, type Session } from './load.ts';
import type { RelayHandle } from './relayHandle.ts';

export interface PhaseOptions {
  agents: number;
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
  /** Agents (by index) that stop reading right after joining. */
  pausedAgents?: number[];
  /** Runs after sending and draining, before the session is closed (e.g. to resume a paused agent). */
  afterDrain?: (s: Session, r: PhaseResult) => Promise<void>;
}

export interface PhaseResult {
  sent: number;
  /** Scheduled frames that the generator could not send before the end of the schedule. */
  unsent: number;
  startAt: number;
  elapsedMs: number;
  sink: Sink;
  /** Over the agents that kept reading: */
  deliveries: number;
  bytes: number;
  gaps: number;
  outOfOrder: number;
  resyncs: number;
  /** Relay process CPU over the window, µs. */
  relayCpuUs: number;
  /** Generator (this process) CPU over the window, µs. */
  genCpuUs: number;
  rssStart: number;
  rssMax: number;
  rssEnd: number;
  /** Relay counters: change over the window, and their absolute values at its start. */
  counters: Record<string, number>;
  countersBefore: Record<string, number>;
  agents: Agent[];
  extra: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runPhase(relay: RelayHandle, o: PhaseOptions): Promise<PhaseResult> {
  const { port, publicKey, tokens } = relay.info;
  const session = await openSession(port, publicKey, tokens, o.agents);
  try {
    return await drive(relay, session, o);
  } finally {
    await closeSession(session);
  }
}

async function drive(relay: RelayHandle, session: Session, o: PhaseOptions): Promise<PhaseResult> {
  const { visitor, agents } = session;
  const paused = new Set(o.pausedAgents ?? []);
  for (const i of paused) agents[i].pause();
  const reading = agents.filter((_, i) => !paused.has(i));
  const sink = new Sink();
  for (const a of reading) a.sink = sink;
  // Let the join's snapshot-request and any connection set-up work settle.
  await sleep(100);

  const before = await relay.stats();
  let rssMax = before.rss;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await sleep(200);
      if (!polling) break;
      const s = await relay.stats().catch(() => undefined);
      if (s) rssMax = Math.max(rssMax, s.rss);
    }
  })();
  const genBefore = process.cpuUsage();

  // ---- send on the schedule
  const interval = Number.isFinite(o.rate) ? 1000 / o.rate : 0;
  const maxCount = o.count ?? Number.MAX_SAFE_INTEGER;
  const window = o.window ?? Number.MAX_SAFE_INTEGER;
  const maxBatchBytes = Math.max(o.size, 256 * 1024);
  const startAt = nowMs() + 2;
  const stopAt = startAt + (o.durationMs ?? 3_600_000);
  let seq = 0;
  let unsent = 0;
  const inflight = () => {
    let min = Number.MAX_SAFE_INTEGER;
    for (const a of reading) if (a.closeCode === undefined && a.expected < min) min = a.expected;
    return min === Number.MAX_SAFE_INTEGER ? 0 : seq - min;
  };
  await new Promise<void>((resolve) => {
    let wake: (() => void) | undefined;
    const tick = () => {
      wake = undefined;
      const now = nowMs();
      if (seq >= maxCount || now >= stopAt) {
        if (interval > 0) unsent = Math.max(0, Math.min(maxCount, Math.floor((Math.min(now, stopAt) - startAt) / interval) + 1) - seq);
        for (const a of reading) a.onFrameHook = undefined;
        return resolve();
      }
      if (now < startAt) return void setTimeout(tick, Math.ceil(startAt - now));
      const due = interval > 0 ? Math.min(maxCount, Math.floor((now - startAt) / interval) + 1) : maxCount;
      let batch = 0;
      let blocked = false;
      while (seq < due && batch < maxBatchBytes) {
        if (visitor.bufferedAmount >= o.backlogBytes || inflight() >= window) {
          blocked = true;
          break;
        }
        visitor.send(o.kind, o.size, seq, interval > 0 ? startAt + seq * interval : nowMs());
        seq++;
        batch += o.size;
      }
      if (blocked && window !== Number.MAX_SAFE_INTEGER && inflight() >= window) {
        // Wait for an agent to receive something (or 1 ms, whichever first).
        const t = setTimeout(tick, 1);
        wake = () => {
          clearTimeout(t);
          wake = undefined;
          setImmediate(tick);
        };
      } else if (blocked) setTimeout(tick, 1); // the relay is not reading fast enough: let it drain
      else if (seq < due) setImmediate(tick); // behind schedule: go again right after I/O
      else setTimeout(tick, Math.max(0, startAt + seq * interval - nowMs()));
    };
    if (window !== Number.MAX_SAFE_INTEGER) for (const a of reading) a.onFrameHook = () => wake?.();
    tick();
  });
  const sent = seq;

  // ---- drain
  const drainUntil = nowMs() + o.drainMs;
  while (nowMs() < drainUntil) {
    if (reading.every((a) => a.expected >= sent || a.closeCode !== undefined || a.resyncs > 0)) break;
    await sleep(2);
  }
  const genCpu = process.cpuUsage(genBefore);
  const after = await relay.stats();
  polling = false;
  await poller;
  rssMax = Math.max(rssMax, after.rss);

  let gaps = 0;
  let outOfOrder = 0;
  let resyncs = 0;
  for (const a of reading) {
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
    startAt,
    elapsedMs: Math.max(1, end - startAt),
    sink,
    deliveries: sink.deliveries,
    bytes: sink.bytes,
    gaps,
    outOfOrder,
    resyncs,
    relayCpuUs: after.user + after.system - before.user - before.system,
    genCpuUs: genCpu.user + genCpu.system,
    rssStart: before.rss,
    rssMax,
    rssEnd: after.rss,
    counters,
    countersBefore: before.counters,
    agents,
    extra: {},
  };
  if (o.afterDrain) await o.afterDrain(session, result);
  return result;
}
