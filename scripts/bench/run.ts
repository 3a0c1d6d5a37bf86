/**
 * `npm run bench:relay [-- --quick]`: the relay's benchmark.
 *
 * Runs four relays as forked children, all with the same routing subset: ours
 * (scripts/bench/relayChild.ts), the floor, a bare uWebSockets.js publish relay on the same package
 * (bareUwsRelay.ts), a plain `ws` relay (wsBaselineRelay.ts) and a socket.io relay
 * (socketIoRelay.ts). The same open-loop load drives each, from a light generator (raw WebSocket
 * frames over plain sockets, scripts/bench/rawWs.ts) split over two processes (this one: the visitor
 * and 2 agents; agentHost.ts: the other agents). Every row reports its ratio to the floor, the
 * generator's CPU next to the relay's, and which one was the limit. Prints the tables, checks the
 * targets and writes bench/last-run.json. Results and method: bench/RESULTS.md.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FrameKind } from '../../protocol/index.ts';
import { nowMs, Sink } from './load.ts';
import { measureIdle, type IdleResult } from './idle.ts';
import { machineCpu, runPhase, waitForQuiet, type PhaseOptions, type PhaseResult } from './phase.ts';
import { AgentHost } from './remoteAgents.ts';
import { RelayHandle, type Impl } from './relayHandle.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KiB = 1024;
const MiB = 1024 * KiB;
const MB = 1e6;

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
if (args.has('--help')) {
  console.log('usage: npm run bench [-- --quick]   (results: bench/last-run.json)');
  process.exit(0);
}

/** Durations: the full run stays well under 3 minutes; --quick is a smoke test. */
const T = QUICK
  ? { probeMs: 400, runMs: 1000, rateRunMs: 1500, snapshots: 8, slowRunMs: 2500, slowTimeoutMs: 1000, idleVisitors: 1000, idleWarmup: 200, idleBase: 500 }
  : { probeMs: 1000, runMs: 3000, rateRunMs: 5000, snapshots: 40, slowRunMs: 4000, slowTimeoutMs: 2000, idleVisitors: 6000, idleWarmup: 1000, idleBase: 3000 };
/**
 * The machine is shared: a phase during which other processes used more than this share of
 * a core is run again (bounded), and the least disturbed attempt is kept.
 */
const NOISE_PCT = 15;
const MAX_ATTEMPTS = 3;
let retryBudget = QUICK ? 0 : 6;
let quietBudgetMs = QUICK ? 2_000 : 30_000;
/** Throughput runs are scheduled at this fraction of the rate the probe reached. */
const NEAR_SATURATION = 0.9;
const FIXED_RATE = 4000;
const SNAPSHOT_WINDOW = 2;
/** Agents of a 1→5 session that live in the second generator process: receiving is the generator's heaviest work. */
const REMOTE_AGENTS = 3;
const SNAPSHOT_REMOTE_AGENTS = REMOTE_AGENTS;
/** A process at or over this share of a core was the limit of a throughput row. */
const LIMIT_PCT = 85;
const FLOOR: Impl = 'uws-bare';
const IMPLS: Impl[] = ['uws', 'uws-bare', 'ws-baseline', 'socketio'];
const SLOW_RATE = 400;

type Scenario =
  | { id: string; label: string; type: 'throughput'; agents: number; size: number }
  | { id: string; label: string; type: 'idle'; visitors: number; warmup: number; base: number }
  | { id: string; label: string; type: 'rate'; agents: number; size: number; rate: number }
  | { id: string; label: string; type: 'snapshot'; agents: number; size: number; count: number; window: number }
  | { id: string; label: string; type: 'slow'; agents: number; size: number; rate: number };

/** `only`: the relays it runs on (default: all four). */
const SCENARIOS: Array<Scenario & { only?: Impl[] }> = [
  { id: '1kb-1to5-4000', label: `1 KB 1→5 @${FIXED_RATE}/s`, type: 'rate', agents: 5, size: 1 * KiB, rate: FIXED_RATE },
  { id: '1kb-1to5', label: '1 KB 1→5', type: 'throughput', agents: 5, size: 1 * KiB },
  { id: '64kb-1to5', label: '64 KB 1→5', type: 'throughput', agents: 5, size: 64 * KiB },
  { id: '5mb-snapshot-1to5', label: '5 MB snapshot 1→5', type: 'snapshot', agents: 5, size: 5 * MiB, count: T.snapshots, window: SNAPSHOT_WINDOW },
  { id: 'slow-agent', label: `slow agent 1 of 5 (64 KB @${SLOW_RATE}/s)`, type: 'slow', agents: 5, size: 64 * KiB, rate: SLOW_RATE, only: ['uws'] },
  // Marginal: the cost of idleVisitors more on a relay already holding idleBase (scripts/bench/idle.ts).
  { id: 'idle', label: `idle visitors (${T.idleVisitors} after ${T.idleBase})`, type: 'idle', visitors: T.idleVisitors, warmup: T.idleWarmup, base: T.idleBase },
];

export interface Row {
  scenario: string;
  scenarioId: string;
  relay: Impl;
  offeredFramesPerSec: number | null;
  framesSent: number;
  deliveriesPerSec: number;
  mbOutPerSec: number;
  /** receive − scheduled send time (open loop), ms */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** receive − actual send time, ms */
  p99FromSent: number;
  cpuUsPerDelivery: number;
  /** user-space part of cpuUsPerDelivery */
  userUsPerDelivery: number;
  relayCpuPct: number;
  genCpuPct: number;
  /** The busier generator process, % of one core. */
  genMaxProcPct: number;
  /** What bounded the row: 'relay', 'generator', or 'neither' (an open-loop rate both keep up with). */
  limit: 'relay' | 'generator' | 'neither' | 'other processes' | 'n/a';
  /** CPU used by other processes on the machine during the window, % of one core (noise). */
  otherCpuPct: number;
  /** irq + softirq CPU during the window (mostly loopback TCP receive work, charged to no process), % of one core. */
  irqCpuPct: number;
  attempts: number;
  rssMB: number;
  rssStartMB: number;
  gaps: number;
  outOfOrder: number;
  resyncs: number;
  unsent: number;
  /** Ratios to the floor (bare uWS) in the same run: CPU per delivery, p50, p99, deliveries/s. */
  vsFloor: { cpu: number; p50: number; p99: number; deliveries: number } | null;
  /** Idle scenario only. */
  idle?: IdleResult;
  notes: string[];
  detail?: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, d = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : n);

function rowFrom(s: Scenario, impl: Impl, r: PhaseResult, offered: number | null): Row {
  const sec = r.elapsedMs / 1000;
  const h = r.sink.fromScheduled;
  const ms = (us: number) => round(us / 1000, 3);
  const pctOfCore = (us: number) => (us < 0 ? NaN : Math.round((us / 1000 / r.windowMs) * 100));
  return {
    scenario: s.label,
    scenarioId: s.id,
    relay: impl,
    offeredFramesPerSec: offered === null ? null : Math.round(offered),
    framesSent: r.sent,
    deliveriesPerSec: Math.round(r.deliveries / sec),
    mbOutPerSec: round(r.bytes / sec / MB, 1),
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    p99FromSent: ms(r.sink.fromSent.getValueAtPercentile(99)),
    cpuUsPerDelivery: r.deliveries > 0 ? round(r.relayCpuUs / r.deliveries, 3) : NaN,
    userUsPerDelivery: r.deliveries > 0 ? round((r.relayCpuUs - r.relaySysUs) / r.deliveries, 3) : NaN,
    relayCpuPct: pctOfCore(r.relayCpuUs),
    genCpuPct: pctOfCore(r.genCpuUs),
    genMaxProcPct: Math.max(pctOfCore(r.genLocalCpuUs), pctOfCore(r.genHostCpuUs)),
    limit: 'n/a',
    otherCpuPct: pctOfCore(r.otherCpuUs),
    irqCpuPct: pctOfCore(r.irqCpuUs),
    attempts: 1,
    rssMB: round(r.rssMax / MB, 1),
    rssStartMB: round(r.rssStart / MB, 1),
    gaps: r.gaps,
    outOfOrder: r.outOfOrder,
    resyncs: r.resyncs,
    unsent: r.unsent,
    vsFloor: null,
    notes: [],
  };
}

/**
 * Which side bounded a row. A saturating row (throughput, snapshots) is bounded by whichever process
 * ran at or near a full core (the relay is single-threaded; so is each generator process); the relay
 * if its visitor socket backed up. An open-loop rate row that both keep up with is bounded by neither.
 */
function limitOf(row: Row, heldBack: number): Row['limit'] {
  const relayBusy = row.relayCpuPct >= LIMIT_PCT || heldBack > 0;
  const genBusy = row.genMaxProcPct >= LIMIT_PCT;
  if (relayBusy && (!genBusy || row.relayCpuPct >= row.genMaxProcPct)) return 'relay';
  if (genBusy) return 'generator';
  // Nobody here ran at a full core, but other processes took a core or more: the machine was the limit.
  return row.otherCpuPct >= 100 ? 'other processes' : 'neither';
}

/** A phase result with nothing in it: the idle scenario's rows carry their figures in `idle`. */
function emptyPhase(): PhaseResult {
  const sink = new Sink();
  return {
    sent: 0, unsent: 0, heldBack: 0, startAt: 0, elapsedMs: 1, sink, deliveries: 0, bytes: 0, gaps: 0, outOfOrder: 0, resyncs: 0,
    relayCpuUs: 0, relaySysUs: 0, genCpuUs: 0, genLocalCpuUs: 0, genHostCpuUs: 0, windowMs: 1, otherCpuUs: 0, irqCpuUs: 0,
    rssStart: 0, rssMax: 0, rssEnd: 0, bufferedMax: 0, counters: {}, countersBefore: {},
  };
}

/** Runs a scenario, again (bounded) if other processes disturbed it; keeps the least disturbed attempt. */
async function runScenarioQuietly(s: Scenario, relay: RelayHandle, host: AgentHost): Promise<Row> {
  let best: Row | undefined;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    if (quietBudgetMs > 0) quietBudgetMs -= await waitForQuiet(Math.min(quietBudgetMs, 10_000));
    const row = await runScenario(s, relay, host);
    row.attempts = attempt;
    if (!best || !(row.otherCpuPct >= best.otherCpuPct)) best = row;
    if (!(row.otherCpuPct > NOISE_PCT) || retryBudget <= 0) break;
    retryBudget--;
    process.stdout.write(`(other processes used ${row.otherCpuPct}% of a core: again) ... `);
  }
  return best!;
}

async function runScenario(s: Scenario, relay: RelayHandle, host: AgentHost): Promise<Row> {
  const impl = relay.impl;
  switch (s.type) {
    case 'throughput': {
      const backlogBytes = Math.max(1 * MiB, 8 * s.size);
      // Probe: as fast as the generator and relay go, to find the saturation rate.
      const remoteAgents = s.agents >= 5 ? REMOTE_AGENTS : 0;
      const probe = await runPhase(relay, {
        agents: s.agents, remoteAgents, kind: FrameKind.Incremental, size: s.size, rate: Infinity,
        durationMs: T.probeMs, backlogBytes, drainMs: 3000,
      }, host);
      const probeFps = probe.deliveries / s.agents / (probe.elapsedMs / 1000);
      const rate = Math.max(100, probeFps * NEAR_SATURATION);
      const r = await runPhase(relay, {
        agents: s.agents, remoteAgents, kind: FrameKind.Incremental, size: s.size, rate,
        durationMs: T.runMs, backlogBytes, drainMs: 5000,
      }, host);
      const row = rowFrom(s, impl, r, rate);
      row.limit = limitOf(row, r.heldBack);
      const probeOther = Math.round((probe.otherCpuUs / 1000 / probe.windowMs) * 100);
      if (probeOther > row.otherCpuPct) row.otherCpuPct = probeOther; // a disturbed probe sets a wrong rate
      row.detail = {
        probeFramesPerSec: Math.round(probeFps),
        probeDeliveriesPerSec: Math.round(probe.deliveries / (probe.elapsedMs / 1000)),
        probeCpuUsPerDelivery: round(probe.relayCpuUs / Math.max(1, probe.deliveries), 3),
        probeRelayCpuPct: Math.round((probe.relayCpuUs / 1000 / probe.elapsedMs) * 100),
        probeGenCpuPct: Math.round((probe.genCpuUs / 1000 / probe.elapsedMs) * 100),
        probeGaps: probe.gaps,
        relayCounters: r.counters,
      };
      return row;
    }
    case 'rate': {
      const r = await runPhase(relay, {
        agents: s.agents, remoteAgents: REMOTE_AGENTS, kind: FrameKind.Incremental, size: s.size, rate: s.rate,
        durationMs: T.rateRunMs, backlogBytes: 1 * MiB, drainMs: 3000,
      }, host);
      const row = rowFrom(s, impl, r, s.rate);
      // Open loop: the row is bounded only if a side fell behind the schedule.
      row.limit = r.unsent > 0 || r.heldBack > 0 || row.relayCpuPct >= LIMIT_PCT || row.genMaxProcPct >= LIMIT_PCT ? limitOf(row, r.heldBack) : 'neither';
      row.detail = { p999FromSent: round(r.sink.fromSent.getValueAtPercentile(99.9) / 1000, 3), p50FromSent: round(r.sink.fromSent.getValueAtPercentile(50) / 1000, 3), relayCounters: r.counters };
      return row;
    }
    case 'snapshot': {
      const opts: PhaseOptions = {
        agents: s.agents, remoteAgents: SNAPSHOT_REMOTE_AGENTS, kind: FrameKind.FullSnapshot, size: s.size, rate: Infinity,
        count: s.count, window: s.window, backlogBytes: 64 * MiB, drainMs: 15_000,
      };
      await runPhase(relay, { ...opts, count: 4 }, host); // warm-up: TCP windows, JIT, allocator
      const r = await runPhase(relay, opts, host);
      const row = rowFrom(s, impl, r, null);
      row.limit = limitOf(row, r.heldBack);
      row.notes.push(`${r.sent} snapshots of ${s.size} bytes, ≤${s.window} in flight; ${SNAPSHOT_REMOTE_AGENTS} of the ${s.agents} agents in the second generator process`);
      row.detail = { relayCounters: r.counters };
      return row;
    }
    case 'idle': {
      const idle = await measureIdle(relay, { visitors: s.visitors, warmup: s.warmup, base: s.base });
      const row = rowFrom(s, impl, emptyPhase(), null);
      row.idle = idle;
      row.rssMB = round(idle.rssPerVisitor, 0);
      row.cpuUsPerDelivery = round(idle.cpuUsPerConnect, 1);
      row.notes.push(`${idle.visitors} idle visitors opened in ${fmt(idle.connectMs / 1000, 1)} s: RSS ${fmt(idle.rssPerVisitor)} B, JS heap ${fmt(idle.heapPerVisitor)} B, malloc heap ${fmt(idle.mallocPerVisitor)} B per visitor; ${fmt(idle.cpuUsPerConnect)} µs relay CPU per connect (generator ${fmt(idle.genCpuUsPerConnect)} µs)`);
      return row;
    }
    case 'slow': {
      const slowIndex = s.agents - 1;
      let slow: Record<string, unknown> = {};
      const r = await runPhase(relay, {
        agents: s.agents, kind: FrameKind.Incremental, size: s.size, rate: s.rate,
        durationMs: T.slowRunMs, backlogBytes: 4 * MiB, drainMs: 3000, pausedAgents: [slowIndex],
        afterDrain: async (session, res) => {
          // Give the relay's sweep time to close the agent (uWS relay: SLOW_AGENT_TIMEOUT_MS), bounded.
          const closedBefore = res.countersBefore.slow_agents_closed_total ?? 0;
          let st = await relay.stats();
          const until = nowMs() + (impl === 'uws' ? T.slowTimeoutMs + 1500 : 0);
          while (nowMs() < until && (st.counters.slow_agents_closed_total ?? 0) <= closedBefore) {
            await sleep(100);
            st = await relay.stats();
          }
          const rssBeforeResume = st.rss;
          const agent = session.agents[slowIndex];
          // Now read what reached the paused agent: frames, then (uWS relay) `resync` and a 4008 close.
          agent.resume();
          const readUntil = nowMs() + 5000;
          while (nowMs() < readUntil && agent.closeCode === undefined && agent.expected < res.sent) await sleep(10);
          await sleep(50);
          slow = {
            framesReceived: agent.received,
            of: res.sent,
            resyncMessages: agent.resyncs,
            closeCode: agent.closeCode ?? null,
            closeReason: agent.closeReason,
            relayResyncs: (st.counters.agent_resyncs_total ?? 0) - (res.countersBefore.agent_resyncs_total ?? 0),
            relaySlowClosed: (st.counters.slow_agents_closed_total ?? 0) - closedBefore,
            relayRssBeforeResumeMB: round(rssBeforeResume / MB, 1),
          };
        },
      });
      const row = rowFrom(s, impl, r, s.rate);
      row.detail = { slowAgent: slow, fastAgents: s.agents - 1, relayBufferedMaxMB: round(r.bufferedMax / MB, 1), relayCounters: r.counters };
      const sa = slow as { framesReceived: number; of: number; resyncMessages: number; closeCode: number | null };
      row.notes.push(
        `fast agents: ${r.gaps} gaps; slow agent got ${sa.framesReceived}/${sa.of} frames, resync msgs ${sa.resyncMessages}, close ${sa.closeCode ?? 'none'}; relay held at most ${fmt(r.bufferedMax / MB, 1)} MB queued for agents, RSS ${fmt(r.rssStart / MB, 0)}→${fmt(r.rssMax / MB, 0)} MB`,
      );
      return row;
    }
  }
}

// ------------------------------------------------------------------ output

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function fmt(n: number | null, d = 0): string {
  if (n === null || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

function grid(head: string[], body: string[][], leftCols = 2): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => pad(c, widths[i], i >= leftCols)).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w, i) => (i >= leftCols ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|', ...body.map(line)].join('\n');
}

const x = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : `${fmt(n, 2)}×`);

export function table(rows: Row[]): string {
  const head = ['scenario', 'relay', 'offered f/s', 'deliveries/s', 'MB/s out', 'p50 ms', 'p99 ms', 'p99.9 ms', 'relay CPU µs/deliv', '(user µs)', 'relay CPU%', 'gen CPU% (max proc)', 'limit', 'other CPU%', 'relay RSS MB (start→max)', 'drops/gaps', '×floor CPU/deliv', '×floor p50', '×floor p99', '×floor deliv/s'];
  const body = rows.filter((r) => !r.idle).map((r) => [
    r.scenario,
    r.relay,
    fmt(r.offeredFramesPerSec),
    fmt(r.deliveriesPerSec),
    fmt(r.mbOutPerSec, 1),
    fmt(r.p50, 2),
    fmt(r.p99, 2),
    fmt(r.p999, 2),
    fmt(r.cpuUsPerDelivery, r.cpuUsPerDelivery >= 100 ? 0 : 2),
    fmt(r.userUsPerDelivery, r.userUsPerDelivery >= 100 ? 0 : 2),
    fmt(r.relayCpuPct),
    `${fmt(r.genCpuPct)} (${fmt(r.genMaxProcPct)})`,
    r.limit,
    fmt(r.otherCpuPct),
    `${fmt(r.rssStartMB, 0)}→${fmt(r.rssMB, 0)}`,
    `${r.gaps}${r.outOfOrder ? ` (+${r.outOfOrder} ooo)` : ''}${r.resyncs ? ` [${r.resyncs} resync]` : ''}`,
    x(r.vsFloor?.cpu),
    x(r.vsFloor?.p50),
    x(r.vsFloor?.p99),
    x(r.vsFloor?.deliveries),
  ]);
  return grid(head, body);
}

export function idleTable(rows: Row[]): string {
  const head = ['idle visitors', 'relay', 'RSS B/visitor', 'JS heap B/visitor', 'malloc B/visitor', 'heap+malloc B', 'relay CPU µs/connect', 'of it main thread', 'gen CPU µs/connect', 'connect s', 'max loop delay ms', '×floor RSS', '×floor heap+malloc', '×floor CPU/connect', '×floor main thread'];
  const floor = rows.find((r) => r.idle && r.relay === FLOOR)?.idle;
  const body = rows.filter((r) => r.idle).map((r) => {
    const i = r.idle!;
    return [
      fmt(i.visitors),
      r.relay,
      fmt(i.rssPerVisitor),
      fmt(i.heapPerVisitor),
      fmt(i.mallocPerVisitor),
      fmt(scaling(i)),
      fmt(i.cpuUsPerConnect),
      fmt(i.mainCpuUsPerConnect),
      fmt(i.genCpuUsPerConnect),
      fmt(i.connectMs / 1000, 1),
      fmt(i.loopDelayMaxMs, 0),
      x(floor ? i.rssPerVisitor / floor.rssPerVisitor : undefined),
      x(floor ? scaling(i) / scaling(floor) : undefined),
      x(floor ? i.cpuUsPerConnect / floor.cpuUsPerConnect : undefined),
      x(floor ? i.mainCpuUsPerConnect / floor.mainCpuUsPerConnect : undefined),
    ];
  });
  return grid(head, body);
}

/** The memory that grows with each idle visitor: its JS objects and its native (malloc) allocations. */
function scaling(i: IdleResult): number {
  return i.heapPerVisitor + i.mallocPerVisitor;
}

interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

function targets(rows: Row[]): Target[] {
  const get = (id: string, impl: Impl) => rows.find((r) => r.scenarioId === id && r.relay === impl);
  const out: Target[] = [];
  const lat = get('1kb-1to5-4000', 'uws');
  if (lat?.vsFloor) {
    out.push({ target: `p99 ≤ 1.1× bare uWS (1 KB 1→5 @${FIXED_RATE}/s)`, measured: `${fmt(lat.p99, 2)} ms = ${x(lat.vsFloor.p99)} the floor (p50 ${x(lat.vsFloor.p50)})`, met: lat.vsFloor.p99 <= 1.1 });
    out.push({ target: `CPU per delivery ≤ 1.1× bare uWS (1 KB 1→5 @${FIXED_RATE}/s)`, measured: `${fmt(lat.cpuUsPerDelivery, 2)} µs = ${x(lat.vsFloor.cpu)} the floor`, met: lat.vsFloor.cpu <= 1.1 });
  }
  if (lat) {
    out.push({
      target: `relay-added p99 < 3 ms at ${FIXED_RATE} frames/s (1 KB, 1→5)`,
      measured: `${fmt(lat.p99FromSent, 2)} ms p99 from actual send to receipt (an upper bound on relay-added)`,
      met: lat.p99FromSent < 3 && lat.gaps === 0,
    });
  }
  const idle = get('idle', 'uws')?.idle;
  const floorIdle = get('idle', FLOOR)?.idle;
  if (idle && floorIdle) {
    const mem = idle.rssPerVisitor / floorIdle.rssPerVisitor;
    const heap = idle.heapPerVisitor / floorIdle.heapPerVisitor;
    const grows = scaling(idle) / scaling(floorIdle);
    const cpu = idle.cpuUsPerConnect / floorIdle.cpuUsPerConnect;
    out.push({ target: 'memory per idle visitor ≤ 1.5× bare uWS (JS heap + malloc heap)', measured: `${fmt(scaling(idle))} B vs ${fmt(scaling(floorIdle))} B = ${x(grows)} (JS heap alone ${fmt(idle.heapPerVisitor)} vs ${fmt(floorIdle.heapPerVisitor)} B = ${x(heap)})`, met: grows <= 1.5 });
    out.push({ target: 'memory per idle visitor ≤ 1.5× bare uWS (RSS)', measured: `${fmt(idle.rssPerVisitor)} B vs ${fmt(floorIdle.rssPerVisitor)} B = ${x(mem)} (RSS also holds the free pages V8 keeps after a burst of connects)`, met: mem <= 1.5 });
    out.push({ target: 'CPU per visitor connect ≤ 1.5× bare uWS', measured: `${fmt(idle.cpuUsPerConnect)} µs vs ${fmt(floorIdle.cpuUsPerConnect)} µs = ${x(cpu)}, with the visitor's metadata write (the main thread alone: ${fmt(idle.mainCpuUsPerConnect)} vs ${fmt(floorIdle.mainCpuUsPerConnect)} µs = ${x(idle.mainCpuUsPerConnect / floorIdle.mainCpuUsPerConnect)}; the rest is the embedded store's writer thread and V8's GC and compiler threads)`, met: cpu <= 1.5 });
  }
  const snap = get('5mb-snapshot-1to5', 'uws');
  if (snap) out.push({ target: '≥ 1 GB/s out, 5 MB snapshot to 5 agents', measured: `${fmt(snap.mbOutPerSec / 1000, 2)} GB/s (${x(snap.vsFloor?.deliveries)} the floor; limit: ${snap.limit})`, met: snap.mbOutPerSec >= 1000 && snap.gaps === 0 });
  return out;
}

function machine(): Record<string, unknown> {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    /* not linux */
  }
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    /* no nproc */
  }
  return { nproc, cpuModel, node: process.version, platform: `${os.platform()} ${os.release()}`, memGB: round(os.totalmem() / 1e9, 1) };
}

// ------------------------------------------------------------------ main

async function machineBusyPct(): Promise<number> {
  const a = machineCpu();
  const t = nowMs();
  await sleep(1000);
  const b = machineCpu();
  return a && b ? Math.round(((b.proc - a.proc) / 1000 / (nowMs() - t)) * 100) : NaN;
}

const relays: RelayHandle[] = [];
const hosts: AgentHost[] = [];
const killAll = () => {
  for (const r of relays) r.kill();
  for (const h of hosts) h.kill();
};
process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
process.on('SIGTERM', () => {
  killAll();
  process.exit(143);
});
// Hard ceiling: never leave a run (or its children) hanging.
const watchdog = setTimeout(() => {
  console.error('bench: watchdog fired (run took too long); killing the relays');
  killAll();
  process.exit(1);
}, QUICK ? 240_000 : 600_000);
watchdog.unref();

async function main(): Promise<void> {
  const t0 = Date.now();
  const m = machine();
  console.log(`cobrowse relay bench${QUICK ? ' (--quick)' : ''}: ${m.nproc} cores (${m.cpuModel}), node ${m.node}`);
  console.log('the relay under test and the load generator (raw WebSocket frames; this process and a second one holding 3 of 5 agents) share these cores.');
  console.log(`load average: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const busy = await machineBusyPct();
  console.log(`machine busy before the run: ${busy}% of one core (other processes)\n`);

  // Lower slow-agent timeout so the close is seen within a short scenario; it only affects agents already lagging.
  const handles = new Map<Impl, RelayHandle>();
  for (const impl of IMPLS) {
    const h = await RelayHandle.start(impl, impl === 'uws' ? { SLOW_AGENT_TIMEOUT_MS: String(T.slowTimeoutMs) } : {});
    relays.push(h);
    handles.set(impl, h);
    if ((impl === 'uws' || impl === FLOOR) && !h.info.native) console.error(`WARNING: ${impl}: uWebSockets.js is running on its JS fallback; figures are not representative.`);
  }
  const host = await AgentHost.start();
  hosts.push(host);

  const rows: Row[] = [];
  try {
    for (const s of SCENARIOS) {
      for (const impl of s.only ?? IMPLS) {
        // The idle row gets a fresh relay: memory freed by the earlier rows (5 MB snapshots) would be reused
        // by the idle visitors and hide their malloc cost.
        // It measures what a visitor costs, not admission's pacing (bench:idle shows that): no admission limit.
        const fresh = s.type === 'idle' ? await RelayHandle.start(impl, { ADMISSIONS_PER_SEC: '1000000' }) : undefined;
        if (fresh) relays.push(fresh);
        const relay = fresh ?? handles.get(impl)!;
        process.stdout.write(`  ${s.label} on ${relay.impl} ... `);
        const t = Date.now();
        const row = await runScenarioQuietly(s, relay, host);
        if (fresh) {
          await fresh.stop();
          relays.splice(relays.indexOf(fresh), 1);
        }
        rows.push(row);
        if (row.idle) console.log(`${fmt(row.idle.rssPerVisitor)} B RSS, ${fmt(row.idle.heapPerVisitor)} B heap, ${fmt(row.idle.mallocPerVisitor)} B malloc per visitor, ${fmt(row.idle.cpuUsPerConnect)} µs/connect (${((Date.now() - t) / 1000).toFixed(1)} s)`);
        else console.log(`${fmt(row.deliveriesPerSec)} deliveries/s, ${fmt(row.mbOutPerSec, 1)} MB/s, p99 ${fmt(row.p99, 2)} ms, ${fmt(row.cpuUsPerDelivery, 2)} µs/deliv, relay ${row.relayCpuPct}% gen ${row.genCpuPct}%, limit ${row.limit}, other CPU ${row.otherCpuPct}% (${((Date.now() - t) / 1000).toFixed(1)} s)`);
        // Let the relay settle (GC, closed sockets) before the next measurement.
        await sleep(300);
      }
      const floor = rows.find((r) => r.scenarioId === s.id && r.relay === FLOOR);
      if (!floor || floor.idle) continue;
      for (const r of rows) {
        if (r.scenarioId !== s.id) continue;
        r.vsFloor = { cpu: r.cpuUsPerDelivery / floor.cpuUsPerDelivery, p50: r.p50 / floor.p50, p99: r.p99 / floor.p99, deliveries: r.deliveriesPerSec / floor.deliveriesPerSec };
      }
    }
  } finally {
    await Promise.all([...relays.map((r) => r.stop()), ...hosts.map((h) => h.stop())]);
  }

  const tg = targets(rows);
  console.log('\n' + table(rows) + '\n');
  console.log(idleTable(rows) + '\n');
  const genBound = rows.filter((r) => r.limit === 'generator');
  if (genBound.length) console.log(`the GENERATOR, not the relay, was the limit in: ${genBound.map((r) => `${r.scenario} / ${r.relay}`).join('; ')}\n`);
  for (const r of rows) if (r.notes.length) console.log(`  ${r.scenario} / ${r.relay}: ${r.notes.join('; ')}`);
  console.log('\nTargets (our relay):');
  for (const t of tg) console.log(`  [${t.met ? 'MET' : 'NOT MET'}] ${t.target}: ${t.measured}`);
  const out = {
    date: new Date().toISOString(),
    quick: QUICK,
    durationSec: round((Date.now() - t0) / 1000, 1),
    machine: { ...m, uwsNative: handles.get('uws')?.info.native, loadAverage: os.loadavg() },
    settings: { ...T, noisePct: NOISE_PCT, maxAttempts: MAX_ATTEMPTS, remoteAgents: REMOTE_AGENTS, nearSaturation: NEAR_SATURATION, fixedRate: FIXED_RATE, snapshotWindow: SNAPSHOT_WINDOW, slowRate: SLOW_RATE, limitPct: LIMIT_PCT, floor: FLOOR, units: 'sizes KiB/MiB; rates MB = 1e6 bytes; latency ms' },
    rows,
    targets: tg,
  };
  fs.mkdirSync(path.join(ROOT, 'bench'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench', 'last-run.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote bench/last-run.json (${out.durationSec} s)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err instanceof Error ? err.stack : err);
    killAll();
    process.exit(1);
  },
);
