/** What both relay children share: answering stats requests and dying with the parent. */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ParentToRelay, RelayStats, RelayToParent } from './ipc.ts';

export function send(msg: RelayToParent): void {
  process.send?.(msg);
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
        rss: mem.rss,
        heapUsed: mem.heapUsed,
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
