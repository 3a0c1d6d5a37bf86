/**
 * `npm run bench:idle [-- --visitors 100000 --generators 4]`: one relay holding many idle visitors,
 * then a connect storm.
 *
 * 1. Opens the idle visitors from several generator processes (scripts/bench/fleetChild.ts) over
 *    several loopback source addresses; reports RSS and JS heap per visitor, CPU per connect, the
 *    relay's event-loop delay and the metadata store's write rate (store calls and rows).
 * 2. Keeps a watched session streaming (1 KB 1→5 @1000/s) among them and reports its latency.
 * 3. Restarts the relay (graceful: every socket closed 1012, same port, store and account) and lets
 *    every visitor reconnect as the embed does (backoff, jitter, admission's retry-after); reports the
 *    time until all are back, the peak event-loop delay, how many connects were shed or failed, and
 *    a watched session's latency during the storm.
 * All three run on our relay and then on the floor (the bare uWebSockets.js relay, restarted the same
 * way; it has no admission control, store or tokens), and the output puts them side by side.
 * Writes bench/idle-last-run.json. Results: bench/RESULTS.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FrameKind } from '../../protocol/index.ts';
import { Fleet, sourcesOf } from './fleet.ts';
import { ratioTable, type RatioRow } from './ratioTable.ts';
import { nowMs } from './load.ts';
import { runPhase, type PhaseResult } from './phase.ts';
import { nofileHardLimit, raiseNofile, RelayHandle, type Impl } from './relayHandle.ts';
import { freePort } from './freePort.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const argv = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const ASKED = arg('visitors', 100_000);
/** One descriptor per socket in the relay: without the right to raise the limit, the run is sized to it. */
const FD_LIMIT = nofileHardLimit();
const VISITORS = canRaiseNofile() ? ASKED : Math.min(ASKED, FD_LIMIT - 2000);
const GENERATORS = arg('generators', 4);
const WATCH_RATE = 1000;
const STORM_DEADLINE_MS = 180_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (n: number) => Math.round(n * 10) / 10;

function canRaiseNofile(): boolean {
  return raiseNofile(process.pid, Math.max(ASKED + 20_000, FD_LIMIT === Infinity ? 0 : FD_LIMIT));
}

/** Samples the relay every 250 ms while `during` runs: peak event-loop delay and the last stats. */
async function sampled<T>(relay: () => RelayHandle, during: Promise<T>): Promise<{ value: T; loopMaxMs: number; loopP99MaxMs: number }> {
  let done = false;
  let loopMaxMs = 0;
  let loopP99MaxMs = 0;
  const poll = (async () => {
    while (!done) {
      await sleep(250);
      const s = await relay().stats(5000).catch(() => undefined);
      if (s) {
        loopMaxMs = Math.max(loopMaxMs, s.loopDelayMaxMs);
        loopP99MaxMs = Math.max(loopP99MaxMs, s.loopDelayP99Ms);
      }
    }
  })();
  try {
    return { value: await during, loopMaxMs, loopP99MaxMs };
  } finally {
    done = true;
    await poll;
  }
}

function watched(r: PhaseResult) {
  const h = r.sink.fromScheduled;
  // From the scheduled send time (open loop: includes the generator running late on a busy machine), and
  // from the actual send (what the relay and the kernel added).
  const sent = r.sink.fromSent;
  return {
    deliveries: r.deliveries, gaps: r.gaps, p50Ms: h.getValueAtPercentile(50) / 1000, p99Ms: h.getValueAtPercentile(99) / 1000, p999Ms: h.getValueAtPercentile(99.9) / 1000,
    p50FromSentMs: sent.getValueAtPercentile(50) / 1000, p99FromSentMs: sent.getValueAtPercentile(99) / 1000, relayCpuPct: Math.round((r.relayCpuUs / 1000 / r.windowMs) * 100),
  };
}

const watchOpts = (durationMs: number, retryShedForMs = 0) => ({ agents: 5, kind: FrameKind.Incremental, size: 1024, rate: WATCH_RATE, durationMs, backlogBytes: 1 << 20, drainMs: 5000, retryShedForMs });

async function runFor(impl: Impl) {
  console.log(`\n== ${impl === 'uws' ? 'ours' : 'the floor (bare uWS)'}: load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-idle-'));
  const port = await freePort();
  const env: Record<string, string> = { BENCH_DATA_DIR: dataDir, BENCH_PORT: String(port), VISITOR_GRACE_MS: '15000' };
  const nofile = VISITORS + 20_000;
  let relay = await RelayHandle.start(impl, env, { nofile });
  env.BENCH_PUBLIC_KEY = relay.info.publicKey; // the floor: the same key after its restart (ours keeps its store)
  const fleets = Array.from({ length: GENERATORS }, () => Fleet.start(Math.ceil(VISITORS / GENERATORS) + 10_000));
  const cleanup = async () => {
    await Promise.all(fleets.map((f) => f.request({ type: 'close' }).catch(() => undefined)));
    for (const f of fleets) f.child.kill();
    await relay.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    // ---- 1. open
    const before = await relay.stats(10_000, true);
    const tOpen = nowMs();
    const per = Math.ceil(VISITORS / GENERATORS);
    const opened = await sampled(() => relay, Promise.all(fleets.map((f, i) => f.request({ type: 'open', port, publicKey: relay.info.publicKey, n: Math.min(per, VISITORS - i * per), sources: sourcesOf(i, GENERATORS) }))));
    const openMs = nowMs() - tOpen;
    const mid = await relay.stats();
    const connected = opened.value.reduce((a, s) => a + s.connected, 0);
    let settled = mid;
    for (const until = nowMs() + 120_000; (settled.gauges.metadata_pending_visitors ?? 0) > 0 && nowMs() < until; ) {
      await sleep(500);
      settled = await relay.stats();
    }
    const writeMs = nowMs() - tOpen;
    const after = await relay.stats(10_000, true);
    const idle = {
      visitors: connected,
      openSec: r1(openMs / 1000),
      rssPerVisitor: Math.round((after.rss - before.rss) / connected),
      heapPerVisitor: Math.round((after.heapUsed - before.heapUsed) / connected),
      relayRssMB: Math.round(after.rss / 1e6),
      cpuUsPerConnect: Math.round((settled.user + settled.system - before.user - before.system) / connected),
      genCpuUsPerConnect: Math.round(opened.value.reduce((a, s) => a + s.cpuUs, 0) / connected),
      loopDelayMaxMs: Math.round(opened.loopMaxMs),
      storeCalls: settled.counters.visitor_store_calls_total - (before.counters.visitor_store_calls_total ?? 0),
      storeRows: settled.counters.visitor_store_rows_total - (before.counters.visitor_store_rows_total ?? 0),
      storeWriteSec: r1(writeMs / 1000),
      shed: settled.counters.visitors_shed_total - (before.counters.visitors_shed_total ?? 0),
    };
    console.log(`opened ${connected} idle visitors in ${idle.openSec} s: RSS ${idle.rssPerVisitor} B, heap ${idle.heapPerVisitor} B per visitor (relay RSS ${idle.relayRssMB} MB); ${idle.cpuUsPerConnect} µs relay CPU per connect; max loop delay ${idle.loopDelayMaxMs} ms; store: ${idle.storeRows} rows in ${idle.storeCalls} calls (${idle.shed} shed and retried)`);

    // ---- 2. watched sessions among idle visitors; the store's write rate meanwhile
    const w0 = await relay.stats();
    const watchedIdle = await sampled(() => relay, runPhase(relay, watchOpts(10_000)));
    const w1 = await relay.stats();
    const minutes = (watchedIdle.value.windowMs + 0) / 60_000;
    const idleWrites = { callsPerMin: r1((w1.counters.visitor_store_calls_total - w0.counters.visitor_store_calls_total) / minutes), rowsPerMin: r1((w1.counters.visitor_store_rows_total - w0.counters.visitor_store_rows_total) / minutes) };
    const wi = { ...watched(watchedIdle.value), loopMaxMs: Math.round(watchedIdle.loopMaxMs) };
    console.log(`watched 1→5 @${WATCH_RATE}/s among them: p50 ${wi.p50Ms} ms, p99 ${wi.p99Ms} ms, gaps ${wi.gaps}; store writes while idle: ${idleWrites.rowsPerMin} rows/min in ${idleWrites.callsPerMin} calls/min`);

    // ---- 3. storm: restart the relay; everyone reconnects as the embed does
    const statusAll = async () => (await Promise.all(fleets.map((f) => f.request({ type: 'status' })))).reduce((a, s) => ({ connected: a.connected + s.connected, shed: a.shed + s.shed, failed: a.failed + s.failed }), { connected: 0, shed: 0, failed: 0 });
    const s0 = await statusAll();
    const tStorm = nowMs();
    await relay.stop();
    const stopMs = nowMs() - tStorm; // the old process's shutdown, until it exited
    relay = await RelayHandle.start(impl, env, { nofile });
    const upMs = nowMs() - tStorm;
    let allBackMs = NaN;
    let peakBehind = 0;
    const storm = await sampled(() => relay, (async () => {
      const watching = runPhase(relay, watchOpts(15_000, 60_000)).catch((err: Error) => err);
      for (;;) {
        const s = await statusAll();
        peakBehind = Math.max(peakBehind, VISITORS - s.connected);
        if (s.connected >= connected) {
          allBackMs = nowMs() - tStorm;
          break;
        }
        if (nowMs() - tStorm > STORM_DEADLINE_MS) break;
        await sleep(250);
      }
      return watching;
    })());
    const watchedStorm = await storm.value;
    const sEnd = await statusAll();
    const rs = await relay.stats();
    const stormOut = {
      relayDownToUpSec: r1(upMs / 1000),
      relayStopSec: r1(stopMs / 1000),
      allBackSec: r1(allBackMs / 1000),
      back: sEnd.connected,
      of: connected,
      shed: rs.counters.visitors_shed_total,
      refusedUpgrades: rs.counters.upgrades_refused_total,
      failedConnects: sEnd.failed - s0.failed,
      loopDelayMaxMs: Math.round(storm.loopMaxMs),
      loopDelayP99MaxMs: Math.round(storm.loopP99MaxMs),
      storeRows: rs.counters.visitor_store_rows_total,
      storeCalls: rs.counters.visitor_store_calls_total,
      watched: watchedStorm instanceof Error ? { error: watchedStorm.message } : watched(watchedStorm),
    };
    console.log(`storm: relay back up in ${stormOut.relayDownToUpSec} s (its shutdown ${stormOut.relayStopSec} s, then the start); ${stormOut.back}/${connected} visitors back after ${stormOut.allBackSec} s (target < 60 s); ${stormOut.shed} connects shed (4503), ${stormOut.refusedUpgrades} refused, ${stormOut.failedConnects} failed while down; peak loop delay ${stormOut.loopDelayMaxMs} ms; store ${stormOut.storeRows} rows in ${stormOut.storeCalls} calls`);
    console.log(`watched session during the storm: ${JSON.stringify(stormOut.watched)}`);
    return { idle, idleWrites, watchedIdle: wi, storm: stormOut };
  } finally {
    await cleanup();
  }
}

type StormRun = Awaited<ReturnType<typeof runFor>>;

async function main(): Promise<void> {
  const t0 = Date.now();
  if (VISITORS < ASKED) console.log(`NOTE: ${ASKED} visitors asked, but a process may hold only ${FD_LIMIT} open files here and raising it is not permitted (needs root or CAP_SYS_RESOURCE: prlimit / ulimit -n): running with ${VISITORS}.`);
  console.log(`idle visitors + connect storm bench: ${VISITORS} visitors from ${GENERATORS} generator processes, ${os.availableParallelism()} cores, ours then the floor`);
  const ours = await runFor('uws');
  const floor = await runFor('uws-bare');
  console.log('\n' + sideBySide(ours, floor));
  const out = { date: new Date().toISOString(), visitors: VISITORS, generators: GENERATORS, loadAverage: os.loadavg(), durationSec: r1((Date.now() - t0) / 1000), ours, floor };
  fs.writeFileSync(path.join(ROOT, 'bench', 'idle-last-run.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote bench/idle-last-run.json (${out.durationSec} s)`);
}

/** Ours next to the floor, with the ratio, for the figures both have. */
function sideBySide(ours: StormRun, floor: StormRun): string {
  const rows: RatioRow[] = [
    ['RSS B per idle visitor', ours.idle.rssPerVisitor, floor.idle.rssPerVisitor],
    ['JS heap B per idle visitor', ours.idle.heapPerVisitor, floor.idle.heapPerVisitor],
    ['relay CPU µs per connect (sheds included)', ours.idle.cpuUsPerConnect, floor.idle.cpuUsPerConnect],
    ['max event-loop delay while opening, ms', ours.idle.loopDelayMaxMs, floor.idle.loopDelayMaxMs],
    ['watched p99 among idle visitors, ms', ours.watchedIdle.p99Ms, floor.watchedIdle.p99Ms],
    ['storm: relay up again after, s', ours.storm.relayDownToUpSec, floor.storm.relayDownToUpSec],
    ['storm: all visitors back after, s', ours.storm.allBackSec, floor.storm.allBackSec],
    ['storm: peak event-loop delay, ms', ours.storm.loopDelayMaxMs, floor.storm.loopDelayMaxMs],
    ['storm: watched p99 from send, ms', num(ours.storm.watched, 'p99FromSentMs'), num(floor.storm.watched, 'p99FromSentMs')],
  ];
  return ratioTable(rows);
}

function num(o: object, k: string): number {
  const v = (o as Record<string, unknown>)[k];
  return typeof v === 'number' ? v : NaN;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
