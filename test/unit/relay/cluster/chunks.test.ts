/** Frames cut into chunks under NATS's max_payload and joined again verbatim, with bounded reassembly. */
import t from 'tap';
import { decodeChunk } from '../../../../protocol/cluster.ts';
import { Reassembler, splitFrame } from '../../../../relay/cluster/chunks.ts';

const TOPIC = 'tab/acc_1/vis_2/tab_3';

function feed(r: Reassembler, msgs: Uint8Array[]) {
  const out = [];
  for (const m of msgs) {
    const c = decodeChunk(m);
    if (!c.ok) throw new Error(c.message);
    out.push(r.accept(c.header, c.data));
  }
  return out;
}

t.test('a small frame is one chunk; a 5 MB frame is split under the limit and joined byte-identical', async (t) => {
  const small = Buffer.from([2, 1, 2, 3]);
  const one = splitFrame('A', TOPIC, 1, small, true, 1000);
  t.equal(one.length, 1);
  const [r1] = feed(new Reassembler(16 << 20), one);
  t.ok(r1.done && Buffer.from(r1.frame.data).equals(small) && r1.frame.binary && r1.frame.topic === TOPIC);

  const big = Buffer.alloc(5 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const chunks = splitFrame('A', TOPIC, 2, big, true, 1024 * 1024 - 1024);
  t.equal(chunks.length, 6, '5 MiB in 6 chunks of just under 1 MiB');
  t.ok(chunks.every((c) => c.byteLength <= 1024 * 1024), 'every chunk under max_payload');
  const results = feed(new Reassembler(16 << 20), chunks);
  t.same(results.slice(0, 5).map((r) => r.done), [false, false, false, false, false]);
  const last = results[5];
  t.ok(last.done && Buffer.from(last.frame.data).equals(big), 'joined byte-identical');
});

t.test('text (a tab\'s page message) keeps its flag', async (t) => {
  const [r] = feed(new Reassembler(1 << 20), splitFrame('A', TOPIC, 3, Buffer.from('{"t":"page"}'), false, 100));
  t.ok(r.done && !r.frame.binary && Buffer.from(r.frame.data).toString() === '{"t":"page"}');
});

t.test('a lost chunk drops that frame (named, for a resync) and the next frame still arrives', async (t) => {
  const r = new Reassembler(16 << 20);
  const a = splitFrame('A', TOPIC, 10, Buffer.alloc(3000, 1), true, 1000);
  const b = splitFrame('A', TOPIC, 11, Buffer.alloc(500, 2), true, 1000);
  const out = feed(r, [a[0], a[1], /* a[2] lost */ b[0]]);
  t.equal(out[2].done, true, 'the next frame is delivered');
  t.equal(out[2].dropped?.topic, TOPIC, 'the incomplete one is reported');
  const orphan = feed(new Reassembler(1 << 20), [a[1]])[0];
  t.equal(orphan.done, false);
  t.equal(orphan.dropped?.reason, 'chunk without its start');
});

t.test('reassembly is bounded: a frame over the limit is dropped and nothing is held', async (t) => {
  const r = new Reassembler(2500);
  const out = feed(r, splitFrame('A', TOPIC, 5, Buffer.alloc(4000), true, 1000));
  t.ok(out.some((o) => o.dropped?.reason === 'frame over the size limit'));
  t.notOk(out.some((o) => o.done), 'never delivered');
  t.ok(r.pendingBytes <= 2500, `holds ${r.pendingBytes} bytes`);
  t.equal(r.reset(), undefined, 'nothing in progress after the drop');
});

t.test('forged chunk headers are refused', async (t) => {
  const good = splitFrame('A', TOPIC, 1, Buffer.alloc(10), true, 100)[0];
  const bad = (mut: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(good);
    mut(b);
    return decodeChunk(b).ok;
  };
  t.equal(bad(() => {}), true, 'the untouched chunk decodes');
  t.equal(bad((b) => (b[1] = 7)), false, 'unknown flags');
  t.equal(bad((b) => (b[9] = 0)), false, 'count 0');
  t.equal(bad((b) => (b[7] = 9)), false, 'index past count');
  t.equal(bad((b) => (b[12] = '.'.charCodeAt(0))), false, 'a topic that is not a tab topic');
  t.equal(decodeChunk(good.subarray(0, 8)).ok, false, 'truncated');
});
