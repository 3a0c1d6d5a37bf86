/**
 * The viewer's in-order inbox (agent-viewer/frameInbox.ts) in Node, with the real frame decoder
 * (agent-viewer/frames.ts): everything comes out in arrival order; at most the in-flight bound of
 * frames is ever being decoded or held decoded, however fast frames arrive; a backlog past its frame
 * or byte bound is dropped as a whole and reported once, in order, and the stream carries on.
 */
import zlib from 'node:zlib';
import t from 'tap';
import { FrameInbox, type FrameResult, type InboxLimits } from '../../../agent-viewer/frameInbox.ts';
import { decodeFrame, type DecodedFrame } from '../../../agent-viewer/frames.ts';
import { encodeFrame, FrameKind, MAX_VIEWER_DECODES_IN_FLIGHT } from '../../../protocol/frames.ts';

const frame = (n: number) => {
  const u = encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(Buffer.from(JSON.stringify([{ type: 3, data: { n, pad: 'x'.repeat(50_000) }, timestamp: n }]))));
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
};

/** An inbox over the real decoder that records what comes out and the most decodes ever held at once. */
function harness(limits?: InboxLimits) {
  const out: string[] = [];
  let decoding = 0;
  let held = 0; // decoded or being decoded, not yet taken or dropped
  let maxHeld = 0;
  const decode = async (data: ArrayBuffer): Promise<DecodedFrame> => {
    decoding++;
    held++;
    maxHeld = Math.max(maxHeld, held);
    try {
      return await decodeFrame(data);
    } finally {
      decoding--;
    }
  };
  const inbox = new FrameInbox(decode, (dropped) => out.push(`overflow:${dropped}`), limits);
  let settle!: () => void;
  const drained = new Promise<void>((r) => (settle = r));
  const take = (r: FrameResult) => {
    held--;
    out.push(r.ok ? `f${(r.frame.events[0] as { data: { n: number } }).data.n}` : `bad:${r.error.code}`);
  };
  return { inbox, out, take, drained, settle, get maxHeld() { return maxHeld; }, get decoding() { return decoding; } };
}

t.test('in order, and never more than the in-flight bound decoding or held', async (t) => {
  const h = harness();
  const expected: string[] = [];
  for (let n = 1; n <= 40; n++) {
    h.inbox.pushFrame(frame(n), h.take);
    expected.push(`f${n}`);
    if (n % 7 === 0) {
      h.inbox.pushTask(() => h.out.push(`text${n}`));
      expected.push(`text${n}`);
    }
  }
  t.equal(h.inbox.backlog.frames, 40, 'all 40 wait');
  t.equal(h.inbox.backlog.decoding, MAX_VIEWER_DECODES_IN_FLIGHT, `only ${MAX_VIEWER_DECODES_IN_FLIGHT} started`);
  h.inbox.pushTask(h.settle);
  await h.drained;
  t.same(h.out, expected, 'frames and messages in arrival order');
  t.ok(h.maxHeld <= MAX_VIEWER_DECODES_IN_FLIGHT, `at most ${h.maxHeld} frames decoding or held at once`);
  t.same(h.inbox.backlog, { frames: 0, bytes: 0, decoding: 0 }, 'nothing left');
});

t.test('a bad frame is a result in its place, not a stall', async (t) => {
  const h = harness();
  h.inbox.pushFrame(frame(1), h.take);
  h.inbox.pushFrame(new Uint8Array([9, 9]).buffer, h.take);
  h.inbox.pushFrame(frame(3), h.take);
  h.inbox.pushTask(h.settle);
  await h.drained;
  t.same(h.out, ['f1', 'bad:unknown_kind', 'f3']);
});

t.test('past the frame bound: everything queued is dropped, reported once in order, and the stream carries on', async (t) => {
  const h = harness({ inFlight: 2, queuedFrames: 5, queuedBytes: 1 << 30 });
  h.inbox.pushTask(() => h.out.push('before'));
  for (let n = 1; n <= 6; n++) h.inbox.pushFrame(frame(n), h.take); // the 6th is over: 1–6 dropped
  h.inbox.pushTask(() => h.out.push('after'));
  h.inbox.pushFrame(frame(7), h.take);
  h.inbox.pushFrame(frame(8), h.take);
  h.inbox.pushTask(h.settle);
  await h.drained;
  t.same(h.out, ['before', 'overflow:6', 'after', 'f7', 'f8']);
  t.ok(h.maxHeld <= 4, `held at most ${h.maxHeld} (dropped decodes finish before their slots free)`);
});

t.test('past the byte bound likewise', async (t) => {
  const one = frame(1).byteLength;
  const h = harness({ inFlight: 2, queuedFrames: 1000, queuedBytes: one * 3 + 10 });
  for (let n = 1; n <= 4; n++) h.inbox.pushFrame(frame(n), h.take);
  h.inbox.pushFrame(frame(5), h.take);
  h.inbox.pushTask(h.settle);
  await h.drained;
  t.same(h.out, ['overflow:4', 'f5']);
});
