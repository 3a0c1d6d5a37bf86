/**
 * The frame decoder worker (bundled to /agent/decode.worker.js): opens end-to-end encrypted frames
 * (e2e/frameKeys.ts), inflates and parses the visitor's frames off the viewer's UI thread, one at a
 * time (so at most one frame's worth of inflated data is held, and results come back in order), and
 * posts each result back under the id it came with. Key messages come through the same port, in
 * arrival order with the frames.
 */
import { ENCRYPTED_KIND_BIT } from '../protocol/frames.ts';
import { decodeFrame, FrameError, MAX_FRAME_JSON_VALUES_DEFAULTS } from './frames.ts';
import { FrameKeys, keyTag } from './e2e/frameKeys.ts';
import type { DecodeResult, KeyEpoch, KeyReport, PositionReport, WorkerRequest } from './frameDecoder.ts';

let queue: Promise<void> = Promise.resolve();
const keys = new FrameKeys();
const open = (bytes: Uint8Array) => keys.open(bytes);
/** Counted as the UI thread counts them (frameDecoder.ts), so it can tell a stale report. */
let epoch: KeyEpoch = { unpins: 0, resets: 0 };
const position = (): PositionReport => ({ position: keys.position, ...epoch });
const report = (r: KeyReport) => self.postMessage(r);

function reply(out: DecodeResult): void {
  try {
    self.postMessage(out);
  } catch (err) {
    // Structured clone can fail on what JSON.parse accepted (e.g. nesting too deep to copy).
    self.postMessage({ id: out.id, ok: false, code: 'bad_json', message: `cannot hand the events over (${(err as Error).message})`, keys: out.keys } satisfies DecodeResult);
  }
}

self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data;
  queue = queue.then(async () => {
    if (req.type === 'identity') return keys.setIdentity(req.identity);
    if (req.type === 'key') return report({ type: 'key', tag: keyTag(req.key), outcome: keys.addKey(req.key), resets: epoch.resets });
    if (req.type === 'restore') {
      epoch = { ...req.epoch };
      const outcomes = keys.restore(req.restore);
      req.restore.pending.forEach((k, i) => report({ type: 'key', tag: keyTag(k), outcome: outcomes[i], resets: epoch.resets }));
      return;
    }
    if (req.type === 'reset') {
      epoch = { unpins: epoch.unpins + 1, resets: epoch.resets + 1 };
      return keys.reset();
    }
    if (req.type === 'unpin') {
      epoch = { ...epoch, unpins: epoch.unpins + 1 };
      keys.unpin();
      return report({ type: 'position', report: position() });
    }
    const { id, data } = req;
    const sealed = data.byteLength > 0 && (new Uint8Array(data, 0, 1)[0] & ENCRYPTED_KIND_BIT) !== 0;
    // An opened frame moves the position even if what it holds is then refused (too big, bad JSON).
    const keysAfter = () => (sealed ? { keys: position() } : {});
    try {
      if (!sealed) keys.checkPlain();
      reply({ id, ok: true, frame: await decodeFrame(data, ...MAX_FRAME_JSON_VALUES_DEFAULTS, open), ...keysAfter() });
    } catch (err) {
      const e = err instanceof FrameError ? err : new FrameError('bad_json', (err as Error)?.message ?? String(err));
      reply({ id, ok: false, code: e.code, message: e.message, ...keysAfter() });
    }
  });
};
