/**
 * The UI thread's side of the decoder worker (decode.worker.ts): hands each binary frame over
 * (transferred, not copied) with a sequence id and resolves that frame's promise when its result
 * comes back. The caller awaits the promises in arrival order (connection.ts), so frames stay in
 * order while decoding overlaps with applying earlier ones. A worker that dies or stops answering
 * fails the frames it holds (each becomes a gap) and is replaced on the next frame.
 */
import { FrameError, type DecodedFrame, type FrameErrorCode } from './frames.ts';
import type { ViewerIdentity, WrappedKey } from './e2e/frameKeys.ts';

export interface DecodeRequest { type?: undefined; id: number; data: ArrayBuffer }
/** End-to-end keys for the worker, in order with the frames (e2e/frameKeys.ts). */
export type KeyRequest = { type: 'identity'; identity: ViewerIdentity } | { type: 'key'; key: WrappedKey } | { type: 'reset' } | { type: 'unpin' };
export type WorkerRequest = DecodeRequest | KeyRequest;
/** Key messages kept to give a replacement worker (the last few; older keys are of no use). */
const KEYS_KEPT = 8;
export type DecodeResult =
  | { id: number; ok: true; frame: DecodedFrame }
  | { id: number; ok: false; code: FrameErrorCode; message: string };

/** Served next to viewer.js (scripts/build.ts); allowed by the viewer's CSP `worker-src 'self'`. */
export const DECODER_WORKER_URL = '/agent/decode.worker.js';
/** No answer for this long while frames are waiting: the worker is stuck; replace it. */
const STALL_MS = 20_000;

interface Waiting {
  resolve(f: DecodedFrame): void;
  reject(e: FrameError): void;
}

export class FrameDecoder {
  private worker?: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private watchdog?: ReturnType<typeof setTimeout>;
  private identity?: ViewerIdentity;
  private keys: WrappedKey[] = [];

  constructor(private readonly url = DECODER_WORKER_URL) {}

  decode(data: ArrayBuffer): Promise<DecodedFrame> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<DecodedFrame>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) this.arm();
      worker.postMessage({ id, data } satisfies DecodeRequest, [data]);
    });
  }

  /** This viewer's E2E key pair: the worker unwraps content keys with it. */
  setIdentity(identity: ViewerIdentity): void {
    this.identity = identity;
    this.worker?.postMessage({ type: 'identity', identity } satisfies KeyRequest);
  }

  /** A content key wrapped for us: reaches the worker before any frame that arrived after it. */
  addKey(key: WrappedKey): void {
    this.keys = [...this.keys, key].slice(-KEYS_KEPT);
    (this.worker ?? this.start()).postMessage({ type: 'key', key } satisfies KeyRequest);
  }

  /** A new session: keys of the previous one are dropped. */
  resetKeys(): void {
    this.keys = [];
    this.worker?.postMessage({ type: 'reset' } satisfies KeyRequest);
  }

  /** A new tab session (`joined`): the worker pins the next embed key that opens frames. */
  unpin(): void {
    this.worker?.postMessage({ type: 'unpin' } satisfies KeyRequest);
  }

  /** Fails everything in flight and stops the worker (sign-out, or a stuck worker). */
  close(code: FrameErrorCode = 'decoder_failed', message = 'decoder stopped'): void {
    clearTimeout(this.watchdog);
    this.worker?.terminate();
    this.worker = undefined;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(new FrameError(code, message));
  }

  private start(): Worker {
    const worker = new Worker(this.url);
    worker.onmessage = (ev: MessageEvent<DecodeResult>) => {
      const r = ev.data;
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      if (this.waiting.size > 0) this.arm();
      else clearTimeout(this.watchdog);
      if (r.ok) w.resolve(r.frame);
      else w.reject(new FrameError(r.code, r.message));
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      if (this.worker === worker) this.close('decoder_failed', 'the frame decoder failed');
    };
    this.worker = worker;
    if (this.identity) worker.postMessage({ type: 'identity', identity: this.identity } satisfies KeyRequest);
    for (const key of this.keys) worker.postMessage({ type: 'key', key } satisfies KeyRequest);
    return worker;
  }

  private arm(): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.close('timeout', 'the frame decoder stopped answering'), STALL_MS);
  }
}
