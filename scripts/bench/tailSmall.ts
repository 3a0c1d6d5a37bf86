/**
 * `npx tsx scripts/bench/tailSmall.ts [rounds] [seconds]`: the `1 KB 1→5 @4000/s` row of
 * `npm run bench:relay` alone, ours and the floor alternating in one sitting (issue 15's tail work,
 * where the full bench is too long to repeat). Prints one line per relay and round, then medians.
 * BENCH_RELAY_NODE_ARGS passes node flags to the relays (e.g. `--trace-gc`).
 */
import { FrameKind } from '../../protocol/index.ts';
import { runPhase } from './phase.ts';
import { AgentHost } from './remoteAgents.ts';
import { RelayHandle, type Impl } from './relayHandle.ts';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 5);
const impls: Impl[] = (process.env.TAIL_IMPLS?.split(',') as Impl[] | undefined) ?? ['uws', 'uws-bare'];
const out: Record<string, Array<{ p50: number; p99: number; p999: number; cpu: number }>> = {};
const host = await AgentHost.start();
try {
  for (let r = 0; r < rounds; r++) {
    for (const impl of impls) {
      const relay = await RelayHandle.start(impl);
      try {
        const phase = { agents: 5, remoteAgents: 3, kind: FrameKind.Incremental, size: 1024, rate: 4000, backlogBytes: 1024 * 1024, drainMs: 3000 };
        await runPhase(relay, { ...phase, durationMs: 1000 }, host); // warm-up: JIT, TCP windows
        const res = await runPhase(relay, { ...phase, durationMs: seconds * 1000 }, host);
        const h = res.sink.fromScheduled;
        const row = { p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000, p999: h.getValueAtPercentile(99.9) / 1000, cpu: res.relayCpuUs / res.deliveries };
        (out[impl] ??= []).push(row);
        const other = Math.round((res.otherCpuUs / 1000 / res.windowMs) * 100);
        console.log(`${impl.padEnd(8)} p50 ${row.p50.toFixed(3)}  p99 ${row.p99.toFixed(3)}  p99.9 ${row.p999.toFixed(3)} ms  cpu ${row.cpu.toFixed(2)} µs/deliv  gaps ${res.gaps}  other ${other}%`);
      } finally {
        await relay.stop();
      }
    }
  }
} finally {
  host.kill();
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floor = out['uws-bare'];
for (const k of ['p50', 'p99', 'p999', 'cpu'] as const) {
  const line = Object.entries(out).map(([impl, rows]) => `${impl} ${med(rows.map((x) => x[k])).toFixed(3)}`).join(', ');
  const ratio = floor && out.uws ? `  ratio ${(med(out.uws.map((x) => x[k])) / med(floor.map((x) => x[k]))).toFixed(2)}x` : '';
  console.log(`median ${k}: ${line}${ratio}`);
}
