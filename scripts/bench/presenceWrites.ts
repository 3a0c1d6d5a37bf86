/**
 * What a relay's own directory writes cost it (relay/cluster/presence.ts) when visitors connect one
 * callback at a time, as uWS delivers them: N tabs announced, each from its own event-loop callback
 * (a setImmediate, after which Node runs the microtask queue as it does after a uWS callback), then
 * the same N withdrawn. Its own nats-server; prints this process's CPU per announce and per
 * withdraw, until the server has all N puts (and then all N deletes), and the CPU per tab of each of
 * WATCHERS other processes standing for the other relays (presenceWatcher.ts: a Presence watching
 * the bucket into its replica), until their replica lists all N (and then none).
 * bench/RESULTS.md, "Twelfth pass".
 *
 *   npx tsx scripts/bench/presenceWrites.ts [tabs=20000] [per-turn=20] [watchers=0]
 */
import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { PRESENCE_BUCKET } from '../../protocol/cluster.ts';
import { connectCluster } from '../../relay/cluster/connection.ts';
import { Presence } from '../../relay/cluster/presence.ts';
import { createLogger } from '../../relay/log.ts';
import { Metrics } from '../../relay/metrics.ts';
import type { TabData } from '../../relay/sessions/types.ts';
import { startBenchNats } from './natsServer.ts';

const N = Number(process.argv[2] ?? 20_000);
/** Callbacks per event-loop turn: a loaded relay's poll phase hands it many sockets at once. */
const PER_TURN = Number(process.argv[3] ?? 20);
const WATCHERS = Number(process.argv[4] ?? 0);
const log = createLogger('silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const nats = await startBenchNats('presence-writes');
const watchers: ChildProcess[] = [];
try {
  const url = nats.url;
  for (let i = 0; i < WATCHERS; i++) {
    const child = fork(path.join(import.meta.dirname, 'presenceWatcher.ts'), [url, `watcher${i}`], {
      // PRESENCE_WATCHER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": where a replica's CPU goes.
      execArgv: ['--import', 'tsx', ...(process.env.PRESENCE_WATCHER_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    });
    await new Promise((r) => child.once('message', r));
    watchers.push(child);
  }
  /** Each watcher's CPU (µs) from now until its replica holds `target` tabs. */
  const watched = (target: number) => Promise.all(watchers.map((w) => new Promise<number>((resolve) => {
    w.once('message', (m: { cpuUs: number }) => resolve(m.cpuUs));
    w.send({ target });
  })));
  const conn = await connectCluster(url, 'bench', log);
  const held = new Set<string>();
  const presence = new Presence(conn, 'bench', crypto.randomBytes(32), () => [], (_a, _v, tab) => held.has(tab), { nodeDead() {}, tabSeen() {} }, new Metrics(), log);
  await presence.start(30_000);
  const reader = await connectCluster(url, 'reader', log);
  const kv = await reader.nc.jetstream().views.kv(PRESENCE_BUCKET);
  const tabs = Array.from({ length: N }, (_, i) => ({
    account: { id: 'acc_bench' }, visitorId: `v${i}`, tabId: `t${i}`, url: 'https://shop.example.com/products/item-123', visitor: {}, closed: false,
  }) as unknown as TabData);
  const keysInBucket = async () => (await kv.status()).values;
  const base = await keysInBucket(); // the node key

  // A delete leaves a marker in the stream (the count stays): the writes go in order on one
  // connection, so the last tab's delete landing means every one before it has.
  const lastDeleted = async () => {
    const e = await kv.get(`tab.acc_bench.v${N - 1}.t${N - 1}`);
    return e !== null && e.operation !== 'PUT';
  };
  const phase = async (what: string, each: (tab: TabData) => void, done: () => Promise<boolean>, replicaTarget: number) => {
    const replicas = watched(replicaTarget);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < N; i += PER_TURN) {
      await new Promise<void>((resolve) => {
        let left = Math.min(PER_TURN, N - i);
        for (let j = i; j < i + PER_TURN && j < N; j++) {
          setImmediate(() => {
            each(tabs[j]);
            if (--left === 0) resolve();
          });
        }
      });
    }
    while (!(await done())) await sleep(20);
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    const w = (await replicas).sort((a, b) => a - b);
    const perWatcher = w.length ? `${(w[0] / N).toFixed(1)}–${(w[w.length - 1] / N).toFixed(1)}` : '–';
    console.log(`| ${what} | ${N} | ${PER_TURN} | ${((cpu.user + cpu.system) / N).toFixed(1)} | ${Math.round(N / (ms / 1000))} | ${perWatcher} |`);
  };
  console.log(`| | tabs | callbacks per turn | this process's CPU µs per write (until the server has it) | writes/s | each of ${WATCHERS} other relays' CPU µs per tab (replica) |`);
  console.log('|---|---:|---:|---:|---:|---|');
  await phase('announce', (tab) => {
    held.add(tab.tabId);
    presence.announce(tab);
  }, async () => (await keysInBucket()) === base + N, N);
  await phase('withdraw', (tab) => {
    held.delete(tab.tabId);
    presence.withdraw(tab);
  }, lastDeleted, 0);
  await presence.stop();
  await conn.close();
  await reader.close();
} finally {
  await Promise.all(watchers.map((w) => new Promise((r) => {
    w.once('exit', r);
    w.send({ exit: true }, (err) => err && w.kill());
  })));
  nats.stop();
}
process.exit(0);
