/**
 * The bus's chunk reassembly across sources: the `from` header is attacker-chosen, so the total
 * held is capped (2 × the frame limit) and the least recently heard sources' frames in progress are
 * dropped first, reported `lost` (their watchers resync) instead of silently thrown away.
 */
import t from 'tap';
import { ClusterBus } from '../../../../relay/cluster/bus.ts';
import { splitFrame } from '../../../../relay/cluster/chunks.ts';
import { Metrics } from '../../../../relay/metrics.ts';

function setup(maxFrameBytes: number) {
  const lost: [string, string][] = [];
  const frames: [string, string][] = [];
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const bus = new ClusterBus({} as any, 'me', maxFrameBytes, 1 << 20, new Metrics(), log as any, {
    envelope() {},
    frame: (f, from) => frames.push([f.topic, from]),
    lost: (topic, from) => lost.push([topic, from]),
    gapped() {},
  });
  const receive = (m: Uint8Array) => (bus as any).receive(m);
  return { bus, lost, frames, receive };
}
const topic = (n: string) => `tab/acc/vis/${n}`;

t.test('the total held across sources is capped; the oldest source\'s frame is dropped and reported lost', async (t) => {
  const { bus, lost, frames, receive } = setup(3000);
  const split = Object.fromEntries(['S1', 'S2', 'S3', 'S4'].map((s) => [s, splitFrame(s, topic(s), 1, Buffer.alloc(2900, 7), true, 1000)]));
  for (const s of ['S1', 'S2', 'S3', 'S4']) {
    receive(split[s][0]);
    receive(split[s][1]);
    t.ok(bus.pendingBytes <= bus.maxReassemblyBytes, `after ${s}: ${bus.pendingBytes} bytes held, cap ${bus.maxReassemblyBytes}`);
  }
  t.same(lost, [[topic('S1'), 'S1']], 'the least recently heard source\'s frame is reported lost');
  receive(split.S2[2]);
  t.same(frames, [[topic('S2'), 'S2']], 'a kept source\'s frame still completes');
  receive(split.S1[2]);
  t.same(frames.length, 1, 'the evicted frame\'s last chunk alone delivers nothing');
});

t.test('more than 1024 sources: the oldest is forgotten and its frame in progress reported lost', async (t) => {
  const { lost, receive } = setup(1 << 20);
  for (let i = 0; i <= 1024; i++) receive(splitFrame(`n${i}`, topic(`t${i}`), 1, Buffer.alloc(20, 1), true, 10)[0]);
  t.same(lost, [[topic('t0'), 'n0']], 'only the oldest source, with a lost report');
});
