/**
 * A preload for a bench child: V8's sampling heap profiler from start to exit, counting objects the
 * GC has since collected too (the allocation rate, not what stays). Written to
 * `$HEAP_SAMPLING_DIR/heap-<pid>.json` at exit; `scripts/bench/heapSamplingReport.ts` sums it.
 *   BENCH_RELAY_NODE_ARGS=--import=./scripts/bench/heapSampling.mjs HEAP_SAMPLING_DIR=/tmp/h \
 *     IDLE_BASE=3000 npx tsx scripts/bench/idleSmall.ts 6000 1
 */
import fs from 'node:fs';
import inspector from 'node:inspector';

const dir = process.env.HEAP_SAMPLING_DIR ?? '/tmp';
const session = new inspector.Session();
session.connect();
session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
process.on('exit', () => {
  // The in-process session answers synchronously, so this completes inside the exit handler.
  session.post('HeapProfiler.stopSampling', (err, res) => {
    if (!err) fs.writeFileSync(`${dir}/heap-${process.pid}.json`, JSON.stringify(res.profile));
  });
});
