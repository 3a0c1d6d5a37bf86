/**
 * The UI thread's side of the decoder worker (decode.worker.ts): hands each binary frame over
 * (transferred, not copied) with a sequence id and resolves that frame's promise when its result
 * comes back. The caller awaits the promises in arrival order (connection.ts), so frames stay in
 * order while decoding overlaps with applying earlier ones. A worker that dies or stops answering
 * fails the frames it holds (each becomes a gap) and is replaced on the next frame.
 */
import { FrameError, type DecodedFrame, type FrameErrorCode } from './frames.ts';
import { keyTag, type KeyPosition, type KeyRestore, type ViewerIdentity, type WrappedKey } from './e2e/frameKeys.ts';

export interface DecodeRequest { type?: undefined; id: number; data: ArrayBuffer }
/** How many `unpin` and `reset` requests a worker has taken: a report made before the latest of them is stale. */
export interface KeyEpoch { unpins: number; resets: number }
/** End-to-end keys for the worker, in order with the frames (e2e/frameKeys.ts). */
export type KeyRequest =
  | { type: 'identity'; identity: ViewerIdentity }
  | { type: 'key'; key: WrappedKey }
  | { type: 'reset' }
  | { type: 'unpin' }
  /** A replacement worker takes over where the stopped one was. */
  | { type: 'restore'; restore: KeyRestore; epoch: KeyEpoch };
export type WorkerRequest = DecodeRequest | KeyRequest;
/** Key messages kept to give a replacement worker (the last few; older keys are of no use). */
const KEYS_KEPT = 8;
/** Key ids kept as seen (as many as the worker itself keeps). */
const SEEN_KEPT = 4096;
/** The worker's replay position after a frame it opened (encrypted frames only). */
export interface PositionReport extends KeyEpoch { position: KeyPosition }
export type DecodeResult =
  | { id: number; ok: true; frame: DecodedFrame; keys?: PositionReport }
  | { id: number; ok: false; code: FrameErrorCode; message: string; keys?: PositionReport };
/** The worker's key state changed outside a frame: what became of a key message, or the position after an `unpin`. */
export type KeyReport =
  | { id?: undefined; type: 'key'; tag: string; outcome: KeyOutcome; resets: number }
  | { id?: undefined; type: 'position'; report: PositionReport };
export type KeyOutcome = 'added' | 'ignored' | 'refused';
/** A key message given to the worker; `outcome` once the worker has reported it. */
interface SentKey { key: WrappedKey; tag: string; outcome?: KeyOutcome }
export type WorkerMessage = DecodeResult | KeyReport;

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
  private keys: SentKey[] = [];
  /** The worker's replay position as last reported, and the key ids it took: a replacement starts from them. */
  private position: KeyPosition = {};
  private seen = new Set<string>();
  private readonly epoch: KeyEpoch = { unpins: 0, resets: 0 };

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
    // A worker started here is given the keys before this one: this one follows as a message of its own.
    const worker = this.worker ?? this.start();
    this.keys = [...this.keys, { key, tag: keyTag(key) }].slice(-KEYS_KEPT);
    worker.postMessage({ type: 'key', key } satisfies KeyRequest);
  }

  /** A new session: keys of the previous one are dropped. */
  resetKeys(): void {
    this.keys = [];
    this.position = {};
    this.seen.clear();
    this.epoch.resets++;
    this.epoch.unpins++;
    this.worker?.postMessage({ type: 'reset' } satisfies KeyRequest);
  }

  /** A new tab session (`joined`): the worker pins the next embed key that opens frames. */
  unpin(): void {
    this.position = { ...this.position, pinned: undefined };
    this.epoch.unpins++;
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
    worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
      if (this.worker !== worker) return; // a stopped worker's last words
      const r = ev.data;
      if (r.id === undefined) return this.onKeyReport(r);
      if (r.keys) this.onPosition(r.keys);
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
    // Keys the old worker took go in as taken; keys it never answered for are checked again; ignored or refused ones are not given.
    const taken = this.keys.filter((k) => k.outcome === 'added').map((k) => k.key);
    const pending = this.keys.filter((k) => !k.outcome).map((k) => k.key);
    const restore: KeyRestore = { ...this.position, seen: [...this.seen], taken, pending };
    worker.postMessage({ type: 'restore', restore, epoch: { ...this.epoch } } satisfies KeyRequest);
    return worker;
  }

  private onKeyReport(r: KeyReport): void {
    if (r.type === 'position') return this.onPosition(r.report);
    if (r.resets !== this.epoch.resets) return; // before a reset
    const sent = this.keys.find((k) => !k.outcome && k.tag === r.tag);
    if (sent) sent.outcome = r.outcome;
    if (r.outcome !== 'added') return;
    this.seen.add(r.tag);
    if (this.seen.size > SEEN_KEPT) this.seen.delete(this.seen.values().next().value!);
  }

  /** A report made before the latest reset is dropped; one made before the latest unpin keeps the pin cleared. */
  private onPosition(r: PositionReport): void {
    if (r.resets !== this.epoch.resets) return;
    this.position = { cur: r.position.cur, pinned: r.unpins === this.epoch.unpins ? r.position.pinned : undefined };
  }

  private arm(): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.close('timeout', 'the frame decoder stopped answering'), STALL_MS);
  }
}
