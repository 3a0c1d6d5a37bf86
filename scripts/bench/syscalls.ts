/**
 * `npx tsx scripts/bench/syscalls.ts [rate] [seconds]`: deliveries per send syscall, ours vs the
 * floor. Runs 1 KB 1→5 at `rate` frames/s (default 4000) on each relay with `strace -c -f` attached
 * to the relay process for the phase, and divides the deliveries by the send-family syscalls it
 * counted (uWS corks: the frames one agent gets within one event-loop turn leave in one write).
 * Needs strace and the right to ptrace (root). strace slows the traced process: compare the ratio,
 * not the CPU.
 */
import { spawn } from 'node:child_process';
import { FrameKind } from '../../protocol/index.ts';
import { runPhase } from './phase.ts';
import { RelayHandle, type Impl } from './relayHandle.ts';

const rate = Number(process.argv[2] ?? 4000);
const seconds = Number(process.argv[3] ?? 5);
const SENDS = ['sendto', 'sendmsg', 'writev', 'write', 'send'];

for (const impl of ['uws', 'uws-bare'] as Impl[]) {
  const relay = await RelayHandle.start(impl);
  try {
    const strace = spawn('strace', ['-c', '-f', '-p', String(relay.child.pid), '-e', `trace=${SENDS.join(',')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let report = '';
    strace.stderr.on('data', (d: Buffer) => (report += d.toString()));
    await new Promise((r) => setTimeout(r, 500)); // strace attaches
    const r = await runPhase(relay, { agents: 5, remoteAgents: 3, kind: FrameKind.Incremental, size: 1024, rate, durationMs: seconds * 1000, backlogBytes: 1 << 20, drainMs: 3000 });
    strace.kill('SIGINT');
    await new Promise((res) => strace.once('exit', res));
    let calls = 0;
    for (const line of report.split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (SENDS.includes(cols[cols.length - 1]) && cols.length >= 5) calls += Number(cols[3]);
    }
    console.log(`${impl}: ${r.deliveries} deliveries, ${calls} send syscalls: ${(r.deliveries / Math.max(1, calls)).toFixed(2)} deliveries per syscall (1 KB 1→5 @${rate}/s, ${seconds} s)`);
  } finally {
    await relay.stop();
  }
}
process.exit(0);
