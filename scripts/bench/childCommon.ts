/** What both relay children share: answering stats requests and dying with the parent. */
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ParentToRelay, RelayStats, RelayToParent } from './ipc.ts';

export function send(msg: RelayToParent): void {
  process.send?.(msg);
}

/** CPU of one of this process's threads, µs: /proc/self/task/<tid>/stat (10 ms ticks). NaN where /proc is absent or the thread is gone. */
function taskCpuUs(tid: number | string): number {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state); utime, stime are the 14th, 15th
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return NaN;
  }
}

/** BENCH_THREADS=1: every thread's CPU, µs by thread id minus the process id (diagnosis: which thread does the work). */
function threadsCpuUs(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const us = taskCpuUs(tid);
    if (!Number.isNaN(us)) out[`${Number(tid) - process.pid}`] = us;
  }
  return out;
}

/**
 * Resident bytes of the main thread's malloc heap (the `[heap]` mapping): where native per-socket
 * memory goes (uWS's sockets, SQLite's caches). Unlike the whole RSS it does not swing with V8's
 * choice of how many free pages to keep. NaN where /proc is not there.
 */
function mallocHeapRss(): number {
  try {
    const smaps = fs.readFileSync('/proc/self/smaps', 'utf8');
    const at = smaps.indexOf('[heap]');
    if (at < 0) return NaN;
    const m = /\nRss:\s+(\d+) kB/.exec(smaps.slice(at));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

export function serveIpc(opts: {
  counters: () => Record<string, number>;
  gauges: () => Record<string, number>;
  stop: () => Promise<void> | void;
}): void {
  if (!process.send) {
    console.error('this script is a bench child: run it through scripts/bench/run.ts');
    process.exit(2);
  }
  let exiting = false;
  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    // Whatever happens in stop(), never linger.
    setTimeout(() => process.exit(code), 2000).unref();
    try {
      await opts.stop();
    } finally {
      process.exit(code);
    }
  };
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (m: ParentToRelay) => {
    if (m.type === 'stats') {
      if (m.gc && gc) {
        gc();
        gc();
      }
      const cpu = process.cpuUsage();
      const mem = process.memoryUsage();
      const stats: RelayStats = {
        type: 'stats',
        id: m.id,
        user: cpu.user,
        system: cpu.system,
        mainThreadUs: taskCpuUs(process.pid),
        threadsUs: process.env.BENCH_THREADS === '1' ? threadsCpuUs() : undefined,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        mallocHeap: m.gc ? mallocHeapRss() : NaN,
        external: mem.external,
        loopDelayMaxMs: loop.max / 1e6,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
        counters: { ...opts.counters() },
        gauges: { ...opts.gauges() },
      };
      loop.reset();
      send(stats);
    } else if (m.type === 'exit') {
      void exit(0);
    }
  });
  // The parent went away (crash, Ctrl-C): go too.
  process.on('disconnect', () => void exit(0));
}
