/**
 * Turns batches of events into binary frames (kind byte + JSON, deflate-raw compressed where the
 * browser has CompressionStream) and sends them in order. The outbound queue is bounded: past the
 * limit, incremental batches are dropped and, once the socket has drained, a fresh full snapshot is
 * asked for instead of growing: overflow → drain → snapshot is this file's job from start to end.
 */
import { encodeAssetFrame, type AssetFrame } from '../protocol/assetFrame.ts';
import { encodeFrame, FrameKind } from '../protocol/frames.ts';
import { E2E_HEADER_BYTES, E2E_TAG_BYTES } from '../protocol/e2e.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../protocol/limits.ts';

/** Bytes queued (ours plus the socket's buffer) above which incremental batches are dropped. */
export const OUTBOUND_LIMIT_BYTES = 4 * 1024 * 1024;
/** Below this, compressing costs more than it saves. */
const COMPRESS_MIN_BYTES = 512;
/** While over the limit, how often to check whether the backlog drained. */
const DRAIN_POLL_MS = 250;
/** The relay's frame limit (MAX_PAYLOAD_BYTES default); a bigger snapshot cannot be delivered. */
export const MAX_FRAME_BYTES = DEFAULT_MAX_PAYLOAD_BYTES;
/** The limit a relay's welcome gave, if within the relay's own bounds for it (64 KiB–256 MiB); else the default. */
export function frameLimitOf(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 64 * 1024 && v <= 256 * 1024 * 1024 ? v : MAX_FRAME_BYTES;
}

/** A frame's bytes beyond its payload, at most: sealed, the E2E header and tag; plain, the kind byte. */
const FRAME_OVERHEAD_BYTES = E2E_HEADER_BYTES + E2E_TAG_BYTES;

const isOpen = (ws: WebSocket | undefined): ws is WebSocket => ws?.readyState === WebSocket.OPEN;

const encoder = new TextEncoder();

function canCompress(): boolean {
  try {
    new CompressionStream('deflate-raw' as CompressionFormat);
    return true;
  } catch {
    return false;
  }
}

async function deflate(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('deflate-raw' as CompressionFormat));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export interface SenderTarget {
  /** The open socket, or undefined while disconnected. */
  socket(): WebSocket | undefined;
  /** The relay's frame limit (its welcome says when it is not MAX_FRAME_BYTES). */
  maxFrameBytes?(): number;
  /** Batches were dropped: the stream has a gap; whatever is batched for it is moot. */
  overflowed(): void;
  /** The backlog drained after an overflow: take the full snapshot that closes the gap. */
  drained(): void;
  error(err: unknown): void;
  /** End-to-end encryption (client/e2e/gate.ts): the sealed frame, or undefined to send it in the clear. */
  seal?(kind: FrameKind, payload: Uint8Array): Promise<Uint8Array | undefined>;
}

export class FrameSender {
  #chain: Promise<void> = Promise.resolve();
  #queuedBytes = 0;
  /** Bumped by `reset()`: work queued before it is abandoned, not sent. */
  #generation = 0;
  #gap = false;
  #drainTimer?: ReturnType<typeof setInterval>;
  readonly #compress = canCompress();

  readonly #target: SenderTarget;

  constructor(target: SenderTarget) {
    this.#target = target;
  }

  full(events: unknown[]): void {
    this.#gap = false;
    this.#enqueue(true, events);
  }

  /** Images and fonts for the view, sent in order just before the full snapshot they belong to. */
  assets(assets: AssetFrame[]): void {
    const gen = this.#generation;
    for (const a of assets) {
      const frame = encodeAssetFrame(a);
      this.#queuedBytes += frame.byteLength;
      this.#chain = this.#chain
        .then(async () => {
          if (gen !== this.#generation) return;
          if (!isOpen(this.#target.socket())) {
            this.#queuedBytes -= frame.byteLength;
            return; // not sealed: no hole in the sequence
          }
          const sealed = await this.#target.seal?.(FrameKind.Asset, frame.subarray(1));
          if (gen !== this.#generation) return;
          this.#queuedBytes -= frame.byteLength;
          const ws = this.#target.socket();
          if (isOpen(ws)) ws.send(sealed ?? frame);
        })
        .catch((err) => this.#target.error(err));
    }
  }

  incremental(events: unknown[]): void {
    if (this.#gap) return; // waiting for the fresh snapshot that closes the gap
    const ws = this.#target.socket();
    if (!ws || this.#queuedBytes + ws.bufferedAmount > OUTBOUND_LIMIT_BYTES) return this.#overflow();
    this.#enqueue(false, events);
  }

  /** Incremental changes are dropped until a fresh full snapshot, taken once the socket drained. */
  #overflow(): void {
    if (this.#gap) return;
    this.#gap = true;
    this.#target.overflowed();
    this.#awaitDrain();
  }

  /** Abandons everything queued: `stop()` means nothing more leaves the page. */
  reset(): void {
    this.#generation++;
    this.#queuedBytes = 0;
    this.#gap = false;
    clearInterval(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  get backlogBytes(): number {
    return this.#queuedBytes + (this.#target.socket()?.bufferedAmount ?? 0);
  }

  #awaitDrain(): void {
    if (this.#drainTimer) return;
    this.#drainTimer = setInterval(() => {
      if (this.backlogBytes > 0 || !this.#target.socket()) return;
      clearInterval(this.#drainTimer);
      this.#drainTimer = undefined;
      try {
        this.#target.drained();
      } catch (err) {
        this.#target.error(err);
      }
    }, DRAIN_POLL_MS);
  }

  #enqueue(full: boolean, events: unknown[]): void {
    const gen = this.#generation;
    const json = encoder.encode(JSON.stringify(events)) as Uint8Array<ArrayBuffer>;
    this.#queuedBytes += json.byteLength;
    this.#chain = this.#chain
      .then(async () => {
        if (gen !== this.#generation) return;
        const compressed = this.#compress && json.byteLength >= COMPRESS_MIN_BYTES;
        const payload = compressed ? await deflate(json) : json;
        if (gen !== this.#generation) return; // stopped while compressing
        const kind = full
          ? compressed ? FrameKind.FullSnapshotDeflate : FrameKind.FullSnapshot
          : compressed ? FrameKind.IncrementalDeflate : FrameKind.Incremental;
        // Checked before sealing: a frame sealed and then not sent would leave a hole in the sequence,
        // which the viewer must take for a relay dropping frames.
        if (!isOpen(this.#target.socket())) {
          this.#queuedBytes -= json.byteLength;
          return;
        }
        if (payload.byteLength + FRAME_OVERHEAD_BYTES > (this.#target.maxFrameBytes?.() ?? MAX_FRAME_BYTES)) {
          this.#queuedBytes -= json.byteLength;
          this.#target.error(new Error(`frame of ${payload.byteLength + FRAME_OVERHEAD_BYTES} bytes is over the relay's limit`));
          // The view would miss these changes: skip to a fresh snapshot, as after an overflow.
          if (!full) this.#overflow();
          return;
        }
        // Compressed first, then encrypted (ciphertext does not compress).
        const frame = (await this.#target.seal?.(kind, payload)) ?? encodeFrame(kind, payload);
        if (gen !== this.#generation) return; // stopped while encrypting
        this.#queuedBytes -= json.byteLength;
        const ws = this.#target.socket();
        if (isOpen(ws)) ws.send(frame);
      })
      .catch((err) => this.#target.error(err));
  }
}
