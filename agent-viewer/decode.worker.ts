/**
 * The frame decoder worker (bundled to /agent/decode.worker.js): inflates and parses the visitor's
 * frames off the viewer's UI thread, one at a time (so at most one frame's worth of inflated data is
 * held, and results come back in order), and posts each result back under the id it came with.
 */
import { decodeFrame, FrameError } from './frames.ts';
import type { DecodeRequest, DecodeResult } from './frameDecoder.ts';

let queue: Promise<void> = Promise.resolve();

function reply(out: DecodeResult): void {
  try {
    self.postMessage(out);
  } catch (err) {
    // Structured clone can fail on what JSON.parse accepted (e.g. nesting too deep to copy).
    self.postMessage({ id: out.id, ok: false, code: 'bad_json', message: `cannot hand the events over (${(err as Error).message})` } satisfies DecodeResult);
  }
}

self.onmessage = (ev: MessageEvent<DecodeRequest>) => {
  const { id, data } = ev.data;
  queue = queue.then(async () => {
    try {
      reply({ id, ok: true, frame: await decodeFrame(data) });
    } catch (err) {
      const e = err instanceof FrameError ? err : new FrameError('bad_json', (err as Error)?.message ?? String(err));
      reply({ id, ok: false, code: e.code, message: e.message });
    }
  });
};
