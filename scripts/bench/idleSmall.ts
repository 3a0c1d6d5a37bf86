/**
 * `npx tsx scripts/bench/idleSmall.ts [visitors] [rounds]`: the idle-visitor row of `npm run bench:relay`
 * alone, for ours and the floor in the same sitting (issue 15 work on a shared machine, where the
 * full bench is too heavy). Each relay is a fresh child; a 1,000-visitor warm-up round comes first, as
 * in the full bench. Prints one line per relay and round, then the medians and the ratios to the floor.
 * IDLE_WARMUP=<n>|same: the warm-up round's size; IDLE_BASE=<n>: visitors held open, unmeasured, first (below).
 * IDLE_SNAPSHOT_DIR=<dir>: our relay writes a heap snapshot (SIGUSR2) with the visitors open.
 * IDLE_SMAPS=1: also prints, per relay and round, which of its memory mappings grew (smapsGrowth.ts).
 */
import fs from 'node:fs';
import { measureIdle, type IdleResult } from './idle.ts';
import { RelayHandle, type Impl } from './relayHandle.ts';
import { growthLines, residentByMapping } from './smapsGrowth.ts';

const visitors = Number(process.argv[2] ?? 3000);
const rounds = Number(process.argv[3] ?? 1);
/**
 * Visitors opened and closed first. The default (1,000) is `npm run bench:relay`'s; a warm-up as large
 * as the run measures the steady state of a relay that has held that many before, without the one-off
 * growth of V8's young generation and the store's caches the first such round brings (IDLE_WARMUP=same).
 */
const warmup = process.env.IDLE_WARMUP === 'same' ? visitors : Number(process.env.IDLE_WARMUP ?? 1000);
/** IDLE_BASE=<n>: visitors held open before the measured ones (idle.ts measureIdle `base`): marginal figures. */
const base = Number(process.env.IDLE_BASE ?? 0);
/** IDLE_SETTLE_MS=<ms>: calm before each memory reading (V8 returns a burst's pages after ~10 s). */
const settleMs = Number(process.env.IDLE_SETTLE_MS ?? 0);
const snapshotDir = process.env.IDLE_SNAPSHOT_DIR;
const smaps = process.env.IDLE_SMAPS === '1';
const impls: Impl[] = ['uws', 'uws-bare'];
const results: Record<string, IdleResult[]> = { uws: [], 'uws-bare': [] };

for (let r = 0; r < rounds; r++) {
  for (const impl of impls) {
    if (snapshotDir && impl === 'uws') process.env.BENCH_RELAY_NODE_ARGS = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotDir}`;
    else if (snapshotDir) delete process.env.BENCH_RELAY_NODE_ARGS; // otherwise the caller's flags (--perf-basic-prof, say) reach both relays
    // What a visitor costs, not admission's pacing (a faster relay would be shed at the default budget).
    const relay = await RelayHandle.start(impl, { ADMISSIONS_PER_SEC: process.env.ADMISSIONS_PER_SEC ?? '1000000' });
    try {
      const pid = relay.child.pid!;
      let mapsBefore = new Map<string, number>();
      let mapsOpen = mapsBefore;
      const res = await measureIdle(relay, {
        visitors, warmup, base, settleMs,
        beforeMeasure: smaps ? () => void (mapsBefore = residentByMapping(pid)) : undefined,
        whileOpen: async () => {
          if (smaps) mapsOpen = residentByMapping(pid);
          if (snapshotDir && impl === 'uws') await snapshot(relay, snapshotDir);
        },
      });
      results[impl].push(res);
      console.log(`${impl.padEnd(8)} heap ${res.heapPerVisitor.toFixed(0)} B (committed ${res.heapTotalPerVisitor.toFixed(0)})  malloc ${res.mallocPerVisitor.toFixed(0)} B  heap+malloc ${(res.heapPerVisitor + res.mallocPerVisitor).toFixed(0)} B  rss ${res.rssPerVisitor.toFixed(0)} B  cpu ${res.cpuUsPerConnect.toFixed(0)} µs/connect (before writes ${res.cpuUsPerConnectBeforeWrites.toFixed(0)}, main thread ${res.mainCpuUsPerConnect.toFixed(0)})  gen ${res.genCpuUsPerConnect.toFixed(0)} µs  ${(res.connectMs / 1000).toFixed(1)} s${res.threadsUsPerConnect ? `  threads µs ${JSON.stringify(res.threadsUsPerConnect)}` : ''}`);
      if (smaps) for (const line of growthLines(mapsBefore, mapsOpen, visitors)) console.log(`  ${line} per visitor`);
    } finally {
      await relay.stop();
    }
  }
}
/** Signals the relay to write a heap snapshot and waits (bounded) until the file is complete. */
async function snapshot(relay: RelayHandle, dir: string): Promise<void> {
  const before = new Set(fs.readdirSync(dir));
  relay.child.kill('SIGUSR2');
  for (const until = Date.now() + 120_000; Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 500));
    const fresh = fs.readdirSync(dir).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    // The stats call is answered only once the (synchronous) snapshot write has finished.
    if (fresh.length) {
      await relay.stats(120_000);
      console.log(`heap snapshot: ${dir}/${fresh[0]}`);
      return;
    }
  }
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = (impl: string, k: keyof IdleResult | 'heapAndMalloc') => med(results[impl].map((x) => (x as unknown as Record<string, number>)[k]));
for (const r of Object.values(results)) for (const x of r) (x as IdleResult & { heapAndMalloc: number }).heapAndMalloc = x.heapPerVisitor + x.mallocPerVisitor;
for (const k of ['heapPerVisitor', 'mallocPerVisitor', 'heapAndMalloc', 'rssPerVisitor', 'cpuUsPerConnect', 'mainCpuUsPerConnect'] as const) {
  console.log(`median ${k}: ours ${m('uws', k).toFixed(0)}, floor ${m('uws-bare', k).toFixed(0)}, ratio ${(m('uws', k) / m('uws-bare', k)).toFixed(2)}x`);
}
