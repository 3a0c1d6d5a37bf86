/**
 * `npm run bench:host [-- --visitors 100000 --relays 8 --generators 7 --idle-sec 65]`: many idle
 * visitors on one machine, held by several relay processes sharing one port (REUSE_PORT, cluster
 * mode on a private nats-server, one SQLite file), then all of them restarted at once.
 *
 * Why several processes: one process holds one descriptor per socket, and this machine's hard limit
 * (20,000) cannot be raised without CAP_SYS_RESOURCE, so one relay process cannot hold 100,000 here
 * (scripts/bench/idleStorm.ts says so and runs at the limit). Several processes per machine behind
 * one port is also how the relay uses more than one core (docs/deploy.md).
 *
 * Reports, for ours and for the floor (the same number of bare uWebSockets.js processes on one port):
 * - open: visitors in, time, RSS and CPU per visitor summed over the processes, the spread over them,
 *   peak event-loop delay; ours also: store rows and calls, and how long until every relay's directory
 *   (the presence replica) lists every visitor, with presence writes that failed;
 * - idle: the store's write rate over `--idle-sec` (the generators' visitors send nothing while idle, so
 *   this is the relay's own writing; the embed's heartbeat is not simulated);
 * - storm: every process restarted at once; time until all visitors are back, shed connects, peak
 *   event-loop delay; ours also: the directory complete again.
 * Writes bench/host-last-run.json. Results: bench/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fleet, sourcesOf } from './fleet.ts';
import { freePort } from './freePort.ts';
import type { RelayStats } from './ipc.ts';
import { nowMs } from './load.ts';
import { ratioTable, type RatioRow } from './ratioTable.ts';
import { nofileHardLimit, RelayHandle, type Impl } from './relayHandle.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const FD_LIMIT = nofileHardLimit();
const PER_PROCESS = Math.min(FD_LIMIT === Infinity ? 100_000 : FD_LIMIT - 2000, 100_000);
const VISITORS = arg('visitors', 100_000);
/** Headroom for the kernel's uneven spread over the processes sharing the port. */
const RELAYS = arg('relays', Math.ceil(VISITORS / (PER_PROCESS * 0.75)));
const GENERATORS = arg('generators', Math.ceil(VISITORS / (PER_PROCESS * 0.9)));
const IDLE_SEC = arg('idle-sec', 65);
const DEADLINE_MS = 240_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (n: number) => Math.round(n * 10) / 10;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The server's log goes to a file (`log`), read at the end for what it says about slow consumers. */
async function startNats(): Promise<{ url: string; log: string; stop(): void }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostbench-nats-'));
  const log = path.join(os.tmpdir(), `hostbench-nats-${port}.log`);
  const child = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, '-l', log], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c));
  for (const until = Date.now() + 15_000; !/Server is ready/.test(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''); await sleep(50)) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`nats-server did not start (${child.exitCode}): ${err}`);
  }
  return { url: `nats://127.0.0.1:${port}`, log, stop: () => (child.kill(), fs.rmSync(dir, { recursive: true, force: true })) };
}

/** The processes sharing the port. */
class Host {
  relays: RelayHandle[] = [];
  constructor(readonly impl: Impl, readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    // The first one makes the store's account (the others read it); restarts go in parallel.
    const first = this.relays.length === 0;
    const start = (i: number) => RelayHandle.start(this.impl, { ...this.env, NODE_ID: `r${i}` }, { nofile: PER_PROCESS + 2000, readyMs: 180_000 });
    if (first) {
      this.relays.push(await start(0));
      this.env.BENCH_PUBLIC_KEY = this.relays[0].info.publicKey; // the floor: every process takes the same key
      this.relays.push(...(await Promise.all(Array.from({ length: RELAYS - 1 }, (_, i) => start(i + 1)))));
    } else {
      this.relays = await Promise.all(this.relays.map((_, i) => start(i)));
    }
  }

  stats(gc = false): Promise<RelayStats[]> {
    return Promise.all(this.relays.map((r) => r.stats(10_000, gc)));
  }

  stop(): Promise<void[]> {
    return Promise.all(this.relays.map((r) => r.stop()));
  }
}

const counter = (ss: RelayStats[], name: string) => sum(ss.map((s) => s.counters[name] ?? 0));
const gauge = (ss: RelayStats[], name: string) => ss.map((s) => s.gauges[name] ?? 0);

/** Samples every process each 250 ms while `during` runs: the peak event-loop delay of any of them. */
async function sampled<T>(host: Host, during: Promise<T>): Promise<{ value: T; loopMaxMs: number }> {
  let done = false;
  let loopMaxMs = 0;
  const poll = (async () => {
    while (!done) {
      await sleep(250);
      for (const s of await Promise.all(host.relays.map((r) => r.stats(5000).catch(() => undefined)))) if (s) loopMaxMs = Math.max(loopMaxMs, s.loopDelayMaxMs);
    }
  })();
  try {
    return { value: await during, loopMaxMs };
  } finally {
    done = true;
    await poll;
  }
}

/**
 * Ours: waits until every relay's directory replica lists every other relay's visitors (each relay's
 * `cluster_presence_tabs` equals the others' `visitor_sockets`); seconds since `t0`, or NaN at the deadline.
 */
async function directoryComplete(host: Host, t0: number): Promise<number> {
  while (nowMs() - t0 < DEADLINE_MS) {
    const ss = await host.stats();
    const own = gauge(ss, 'visitor_sockets');
    const seen = gauge(ss, 'cluster_presence_tabs');
    if (own.every((_, i) => seen[i] >= sum(own) - own[i])) return r1((nowMs() - t0) / 1000);
    await sleep(500);
  }
  return NaN;
}

/** `sourceBlock`: the loopback addresses this phase's visitors connect from (fleet.ts `sourcesOf`). */
async function runFor(impl: Impl, natsUrl: string, sourceBlock: number) {
  const ours = impl === 'uws';
  console.log(`\n== ${ours ? 'ours' : 'the floor (bare uWS)'}: ${RELAYS} processes on one port; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-host-'));
  const port = await freePort();
  const env: Record<string, string> = { BENCH_DATA_DIR: dataDir, BENCH_PORT: String(port), VISITOR_GRACE_MS: '15000' };
  if (ours) Object.assign(env, { NATS_URL: natsUrl, RELAY_SECRET: crypto.randomBytes(32).toString('base64url'), REUSE_PORT: '1' });
  const host = new Host(impl, env);
  await host.start();
  const publicKey = host.relays[0].info.publicKey;
  const fleets = Array.from({ length: GENERATORS }, () => Fleet.start(PER_PROCESS + 2000));
  const connectedNow = async () => sum((await Promise.all(fleets.map((f) => f.request({ type: 'status' })))).map((s) => s.connected));
  try {
    // ---- 1. open
    const before = await host.stats(true);
    const t0 = nowMs();
    const per = Math.ceil(VISITORS / GENERATORS);
    const opened = await sampled(host, Promise.all(fleets.map((f, i) => f.request({ type: 'open', port, publicKey, n: Math.min(per, VISITORS - i * per), sources: sourcesOf(i, GENERATORS, sourceBlock) }))));
    const openSec = r1((nowMs() - t0) / 1000);
    const connected = sum(opened.value.map((s) => s.connected));
    const directorySec = ours ? await directoryComplete(host, t0) : NaN;
    let settled = await host.stats();
    while (sum(gauge(settled, 'metadata_pending_visitors')) > 0 && nowMs() - t0 < DEADLINE_MS) {
      await sleep(500);
      settled = await host.stats();
    }
    const after = await host.stats(true);
    const spread = gauge(after, 'visitor_sockets');
    const open = {
      visitors: connected,
      openSec,
      rssPerVisitor: Math.round((sum(after.map((s) => s.rss)) - sum(before.map((s) => s.rss))) / connected),
      rssTotalMB: Math.round(sum(after.map((s) => s.rss)) / 1e6),
      cpuUsPerConnect: Math.round((sum(settled.map((s) => s.user + s.system)) - sum(before.map((s) => s.user + s.system))) / connected),
      genCpuUsPerConnect: Math.round(sum(opened.value.map((s) => s.cpuUs)) / connected),
      perProcessMin: Math.min(...spread),
      perProcessMax: Math.max(...spread),
      loopDelayMaxMs: Math.round(opened.loopMaxMs),
      shed: counter(settled, 'visitors_shed_total') - counter(before, 'visitors_shed_total'),
      storeRows: counter(settled, 'visitor_store_rows_total') - counter(before, 'visitor_store_rows_total'),
      storeCalls: counter(settled, 'visitor_store_calls_total') - counter(before, 'visitor_store_calls_total'),
      directorySec,
      presenceWriteFailures: counter(settled, 'cluster_presence_write_failures_total'),
    };
    console.log(`opened ${connected}/${VISITORS} in ${openSec} s over ${RELAYS} processes (${open.perProcessMin}–${open.perProcessMax} each): RSS ${open.rssPerVisitor} B per visitor (all processes ${open.rssTotalMB} MB), ${open.cpuUsPerConnect} µs CPU per connect, peak loop delay ${open.loopDelayMaxMs} ms, ${open.shed} shed and retried`);
    if (ours) console.log(`  store: ${open.storeRows} rows in ${open.storeCalls} calls; every relay's directory complete after ${directorySec} s; presence writes failed: ${open.presenceWriteFailures}`);

    // ---- 2. idle
    const i0 = await host.stats();
    await sleep(IDLE_SEC * 1000);
    const i1 = await host.stats();
    const idle = {
      sec: IDLE_SEC,
      stillConnected: await connectedNow(),
      storeRowsPerMin: r1(((counter(i1, 'visitor_store_rows_total') - counter(i0, 'visitor_store_rows_total')) * 60) / IDLE_SEC),
      storeCallsPerMin: r1(((counter(i1, 'visitor_store_calls_total') - counter(i0, 'visitor_store_calls_total')) * 60) / IDLE_SEC),
      cpuPct: r1(((sum(i1.map((s) => s.user + s.system)) - sum(i0.map((s) => s.user + s.system))) / 1e6 / IDLE_SEC) * 100),
    };
    console.log(`idle ${IDLE_SEC} s: ${idle.stillConnected} still connected; store ${idle.storeRowsPerMin} rows/min in ${idle.storeCallsPerMin} calls/min; all processes ${idle.cpuPct} % of a core`);

    // ---- 3. storm: every process restarted at once
    const tStorm = nowMs();
    await host.stop();
    await host.start();
    const upSec = r1((nowMs() - tStorm) / 1000);
    let allBackSec = NaN;
    const storm = await sampled(host, (async () => {
      while (nowMs() - tStorm < DEADLINE_MS) {
        if ((await connectedNow()) >= connected) return (allBackSec = r1((nowMs() - tStorm) / 1000));
        await sleep(250);
      }
    })());
    const stormDirectorySec = ours ? await directoryComplete(host, tStorm) : NaN;
    const s1 = await host.stats();
    const stormOut = {
      upSec, allBackSec, back: await connectedNow(),
      shed: counter(s1, 'visitors_shed_total'),
      loopDelayMaxMs: Math.round(storm.loopMaxMs),
      directorySec: stormDirectorySec,
      presenceWriteFailures: counter(s1, 'cluster_presence_write_failures_total'),
    };
    console.log(`storm: all ${RELAYS} restarted, up after ${upSec} s; ${stormOut.back}/${connected} back after ${allBackSec} s (target < 60 s); ${stormOut.shed} connects shed; peak loop delay ${stormOut.loopDelayMaxMs} ms`);
    if (ours) console.log(`  every relay's directory complete after ${stormDirectorySec} s; presence writes failed: ${stormOut.presenceWriteFailures}`);
    return { open, idle, storm: stormOut };
  } finally {
    await Promise.all(fleets.map((f) => f.request({ type: 'close' }).catch(() => undefined)));
    for (const f of fleets) f.child.kill();
    await host.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  console.log(`idle visitors on one machine: ${VISITORS} visitors, ${RELAYS} relay processes on one port, ${GENERATORS} generator processes, ${os.availableParallelism()} cores (a process may hold ${FD_LIMIT} open files here)`);
  const nats = await startNats();
  try {
    // Fresh source addresses for each phase and each run (127.0.<block>.x): no TIME_WAIT from before.
    const block = 1 + crypto.randomInt(126) * 2;
    const ours = await runFor('uws', nats.url, block);
    const floor = await runFor('uws-bare', nats.url, block + 1);
    const rows: RatioRow[] = [
      ['visitors in after the open, s', ours.open.openSec, floor.open.openSec],
      ['RSS B per idle visitor (all processes)', ours.open.rssPerVisitor, floor.open.rssPerVisitor],
      ['CPU µs per connect (all processes)', ours.open.cpuUsPerConnect, floor.open.cpuUsPerConnect],
      ['peak event-loop delay while opening, ms', ours.open.loopDelayMaxMs, floor.open.loopDelayMaxMs],
      ['idle: CPU, % of a core', ours.idle.cpuPct, floor.idle.cpuPct],
      ['storm: all processes up after, s', ours.storm.upSec, floor.storm.upSec],
      ['storm: all visitors back after, s', ours.storm.allBackSec, floor.storm.allBackSec],
      ['storm: peak event-loop delay, ms', ours.storm.loopDelayMaxMs, floor.storm.loopDelayMaxMs],
    ];
    console.log('\n' + ratioTable(rows));
    const out = { date: new Date().toISOString(), visitors: VISITORS, relays: RELAYS, generators: GENERATORS, fdLimit: FD_LIMIT, loadAverage: os.loadavg(), durationSec: r1((Date.now() - t0) / 1000), ours, floor };
    fs.writeFileSync(path.join(ROOT, 'bench', 'host-last-run.json'), JSON.stringify(out, null, 2) + '\n');
    console.log(`wrote bench/host-last-run.json (${out.durationSec} s)`);
  } finally {
    nats.stop();
    const text = fs.existsSync(nats.log) ? fs.readFileSync(nats.log, 'utf8') : '';
    console.log(`nats-server log ${nats.log}: ${(text.match(/Slow Consumer/gi) ?? []).length} slow-consumer lines, ${(text.match(/\[ERR\]/g) ?? []).length} errors`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
