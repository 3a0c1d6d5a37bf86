/**
 * The frame decoder worker (bundled to /agent/decode.worker.js): opens end-to-end encrypted frames
 * (e2e/frameKeys.ts), inflates and parses the visitor's frames off the viewer's UI thread, one at a
 * time (so at most one frame's worth of inflated data is held, and results come back in order), and
 * posts each result back under the id it came with. Key messages come through the same port, in
 * arrival order with the frames.
 */
import { ENCRYPTED_KIND_BIT } from '../protocol/frames.ts';
import { decodeFrame, FrameError, MAX_FRAME_JSON_VALUES_DEFAULTS } from './frames.ts';
import { FrameKeys } from './e2e/frameKeys.ts';
import type { DecodeResult, WorkerRequest } from './frameDecoder.ts';

let queue: Promise<void> = Promise.resolve();
const keys = new FrameKeys();
const open = (bytes: Uint8Array) => keys.open(bytes);

function reply(out: DecodeResult): void {
  try {
    self.postMessage(out);
  } catch (err) {
    // Structured clone can fail on what JSON.parse accepted (e.g. nesting too deep to copy).
    self.postMessage({ id: out.id, ok: false, code: 'bad_json', message: `cannot hand the events over (${(err as Error).message})` } satisfies DecodeResult);
  }
}

self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data;
  queue = queue.then(async () => {
    if (req.type === 'identity') return keys.setIdentity(req.identity);
    if (req.type === 'key') return void keys.addKey(req.key);
    if (req.type === 'reset') return keys.reset();
    if (req.type === 'unpin') return keys.unpin();
    const { id, data } = req;
    try {
      if (data.byteLength > 0 && (new Uint8Array(data, 0, 1)[0] & ENCRYPTED_KIND_BIT) === 0) keys.checkPlain();
      reply({ id, ok: true, frame: await decodeFrame(data, ...MAX_FRAME_JSON_VALUES_DEFAULTS, open) });
    } catch (err) {
      const e = err instanceof FrameError ? err : new FrameError('bad_json', (err as Error)?.message ?? String(err));
      reply({ id, ok: false, code: e.code, message: e.message });
    }
  });
};
