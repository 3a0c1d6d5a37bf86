/**
 * The viewer's frame decoder (agent-viewer/frames.ts, which runs in its worker), unit-tested in Node
 * (same DecompressionStream API): bombs stop at the cap without inflating the rest, and every kind of
 * bad input ends in a FrameError with its code, never a hang (a hung decode would stall the viewer's
 * in-order message chain).
 */
import zlib from 'node:zlib';
import t from 'tap';
import { decodeFrame, FrameError } from '../../../agent-viewer/frames.ts';
import { encodeFrame, FrameKind, MAX_FRAME_STRING_CHARS, MAX_INFLATED_FRAME_BYTES } from '../../../protocol/frames.ts';
import { bombFrame } from '../../helpers/deflateBomb.ts';

const buf = (u: Uint8Array) => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof FrameError) return err.code;
    throw err;
  }
  return 'decoded';
}

t.test('valid frames of every kind decode', async (t) => {
  const events = [{ type: 4, data: { href: 'https://x.example/', width: 1, height: 1 }, timestamp: 1 }, { type: 3, data: { text: 'é✓' }, timestamp: 2 }];
  for (const [kind, payload] of [[FrameKind.FullSnapshot, json(events)], [FrameKind.Incremental, json(events)], [FrameKind.FullSnapshotDeflate, zlib.deflateRawSync(json(events))], [FrameKind.IncrementalDeflate, zlib.deflateRawSync(json(events))]] as const) {
    const f = await decodeFrame(buf(encodeFrame(kind, payload)));
    t.same(f.events, events, `kind ${kind}`);
    t.equal(f.full, kind === FrameKind.FullSnapshot || kind === FrameKind.FullSnapshotDeflate);
  }
});

t.test('a bomb stops at the cap, quickly, holding about the cap', async (t) => {
  const { frame, inflatedBytes } = bombFrame(1 << 20); // 1 GiB of zeros
  const cap = 8 << 20;
  const heapBefore = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  t.equal(await code(decodeFrame(buf(frame), cap)), 'too_big', `${inflatedBytes >> 20} MiB bomb refused`);
  const ms = performance.now() - t0;
  t.ok(ms < 5000, `stopped after ${Math.round(ms)} ms (inflating it all takes far longer)`);
  t.ok(process.memoryUsage().arrayBuffers - heapBefore < 64 << 20, 'did not hold the inflated gigabyte');
  const big = json(['x'.repeat(cap)]);
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.Incremental, big)), cap)), 'too_big', 'an uncompressed payload over the cap too');
  // Two strings: one string this long is over MAX_FRAME_STRING_CHARS (the next test).
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(json(['x'.repeat(cap / 2 - 100), 'y'.repeat(cap / 2 - 100)])))), cap)), 'decoded', 'just under the cap decodes');
});

t.test('one string or key over MAX_FRAME_STRING_CHARS is too big, however few values', async (t) => {
  t.equal(MAX_INFLATED_FRAME_BYTES, 32 * 1024 * 1024, 'the byte cap is 32 MiB (was 64: over 6x the largest realistic snapshot)');
  const atCap = 'a'.repeat(MAX_FRAME_STRING_CHARS);
  const over = atCap + 'a';
  const frameOf = (v: unknown) => buf(encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(json(v))));
  t.equal(await code(decodeFrame(frameOf([{ type: 3, data: { adds: [{ node: { type: 3, textContent: atCap } }] } }]))), 'decoded', 'a string exactly at the cap decodes');
  t.equal(await code(decodeFrame(frameOf([{ type: 3, data: { adds: [{ node: { type: 3, textContent: over } }] } }]))), 'too_big', 'one character more does not');
  t.equal(await code(decodeFrame(frameOf([{ [over]: 1 }]))), 'too_big', 'nor does an object key that long');
  t.equal(await code(decodeFrame(frameOf([over]))), 'too_big', 'nor a bare string event');
  // The attack the cap is for: ~40 KB on the wire, one 30 MB string (one value, under the byte cap).
  const attack = encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(Buffer.concat([Buffer.from('["'), Buffer.alloc(30_000_000, 0x61), Buffer.from('"]')])));
  t.ok(attack.byteLength < 64 * 1024, `${attack.byteLength} bytes on the wire`);
  t.equal(await code(decodeFrame(buf(attack))), 'too_big', 'a 30 MB single string is dropped');
});

t.test('a payload of too many JSON values is too big, however small in bytes', async (t) => {
  const tiny = Buffer.from(`[${Array(2_000_000).fill('[]').join(',')}]`); // 6 MiB, 2 million values
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(tiny))))), 'too_big');
  const deep = Buffer.from('['.repeat(100_000) + ']'.repeat(100_000));
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.Incremental, deep)), undefined, 1000)), 'too_big', 'deep nesting is counted without recursion');
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.Incremental, json([{ a: [1, 2, { b: 'c' }] }]))), undefined, 7)), 'decoded', 'exactly at the limit (7 values) decodes');
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.Incremental, json([{ a: [1, 2, { b: 'c' }] }]))), undefined, 6)), 'too_big', 'one over does not');
});

t.test('bad input: a FrameError with a code, never a hang', async (t) => {
  const good = zlib.deflateRawSync(json([{ type: 3, data: {}, timestamp: 1 }]));
  t.equal(await code(decodeFrame(buf(new Uint8Array([9, 1, 2])))), 'unknown_kind');
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.IncrementalDeflate, new Uint8Array(4096).map((_, i) => (i * 7919) & 0xff))))), 'corrupt', 'garbage that is not deflate');
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.IncrementalDeflate, good.subarray(0, good.length - 4))))), 'corrupt', 'a truncated stream');
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.IncrementalDeflate, new Uint8Array(0))))), 'corrupt', 'an empty stream');
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.Incremental, Buffer.from('not json'))))), 'bad_json');
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.Incremental, json({ not: 'an array' }))))), 'bad_json');
  t.equal(await code(decodeFrame(buf(encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(Buffer.from([0xff, 0xfe, 0x5b, 0x5d])))))), 'bad_json', 'invalid UTF-8 is not JSON');
});
