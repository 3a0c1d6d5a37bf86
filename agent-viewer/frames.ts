/**
 * Decoding the visitor's binary frames: byte 0 is the kind (protocol/frames.ts); the rest is
 * the UTF-8 JSON of an array of rrweb events, deflate-raw compressed for kinds 3 and 4.
 * Runs in the decoder worker (decode.worker.ts), never on the viewer's UI thread: the payload is
 * untrusted, so inflating is streamed and stops at MAX_INFLATED_FRAME_BYTES (a deflate bomb), and the
 * parsed events are checked against the value and string-length caps before they are handed over.
 */
import { decodeAssetPayload, type AssetFrame } from '../protocol/assetFrame.ts';
import { ENCRYPTED_KIND_BIT, FrameKind, isFullSnapshotKind, isKnownFrameKind, isRelayedFrameKind, MAX_FRAME_JSON_VALUES, MAX_FRAME_STRING_CHARS, MAX_INFLATED_FRAME_BYTES } from '../protocol/frames.ts';

export interface DecodedFrame {
  kind: FrameKind;
  full: boolean;
  events: unknown[];
  /** Kind 5: an image or font for the view (no events). */
  asset?: AssetFrame;
  /** It came end-to-end encrypted (and opened with a key wrapped for this viewer). */
  encrypted?: boolean;
  /** The embed key of the content key that opened it (encrypted frames only). */
  embedKey?: string;
}

/** Why a frame was dropped; `too_big` and `backlog` are the ones the agent is told about specifically. */
export type FrameErrorCode = 'unknown_kind' | 'too_big' | 'corrupt' | 'bad_json' | 'timeout' | 'decoder_failed' | 'backlog' | 'undecryptable' | 'out_of_order' | 'downgrade';

/** Opens an end-to-end encrypted frame (agent-viewer/e2e/frameKeys.ts): plain kind + payload, or undefined to skip it. */
export type FrameOpener = (bytes: Uint8Array) => Promise<{ kind: FrameKind; payload: Uint8Array; embedKey?: string } | undefined>;

export class FrameError extends Error {
  constructor(readonly code: FrameErrorCode, message: string) {
    super(message);
  }
}

/**
 * Compressed input is fed to the decompressor this many bytes at a time. The browser inflates each
 * input chunk in full before we see any output, and deflate expands up to ~1032×: a whole bomb
 * handed over at once would be inflated to gigabytes before we could stop it. 8 KiB in → at most
 * ~8 MiB out per step.
 */
const INPUT_SLICE_BYTES = 8 * 1024;

/**
 * Inflates step by step, counting output; past `maxBytes` both sides of the stream are cancelled,
 * so at most about `maxBytes` plus one step's output is ever produced, whatever the input expands to.
 */
export async function inflateRawCapped(bytes: Uint8Array, maxBytes: number): Promise<string> {
  const ds = new DecompressionStream('deflate-raw');
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  // Writes wait for `ready` (the stream's backpressure), so input is consumed only as output is read.
  const feeding = (async () => {
    for (let at = 0; at < bytes.byteLength; at += INPUT_SLICE_BYTES) {
      await writer.ready;
      void writer.write(bytes.subarray(at, at + INPUT_SLICE_BYTES) as Uint8Array<ArrayBuffer>).catch(() => {});
    }
    await writer.ready;
    await writer.close();
  })();
  feeding.catch(() => {}); // its failure shows up on the reading side
  const utf8 = new TextDecoder();
  const parts: string[] = [];
  let total = 0;
  for (;;) {
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch (err) {
      throw new FrameError('corrupt', `not a deflate-raw stream (${(err as Error).message})`);
    }
    if (r.done) break;
    total += r.value.byteLength;
    if (total > maxBytes) {
      await Promise.all([reader.cancel().catch(() => {}), writer.abort().catch(() => {})]);
      throw new FrameError('too_big', `inflates to more than ${maxBytes} bytes`);
    }
    parts.push(utf8.decode(r.value, { stream: true }));
  }
  parts.push(utf8.decode());
  return parts.join('');
}

/**
 * Walks the parsed payload (iteratively: nesting depth costs no stack) and names the first cap it
 * breaks: more than `maxValues` JSON values, or a string or object key longer than `maxStringChars`.
 */
export function overJsonCaps(root: unknown, maxValues: number, maxStringChars: number): string | undefined {
  const stack: unknown[] = [root];
  let n = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    if (++n > maxValues) return `more than ${maxValues} JSON values`;
    if (typeof v === 'string') {
      if (v.length > maxStringChars) return `a string longer than ${maxStringChars} characters`;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k.length > maxStringChars) return `a key longer than ${maxStringChars} characters`;
        stack.push(x);
      }
    }
  }
  return undefined;
}

/** decodeFrame's default caps, for callers that pass an opener. */
export const MAX_FRAME_JSON_VALUES_DEFAULTS = [MAX_INFLATED_FRAME_BYTES, MAX_FRAME_JSON_VALUES, MAX_FRAME_STRING_CHARS] as const;

/** Throws a FrameError on an unknown kind, a corrupt or oversized payload, or one that is not a JSON array. */
export async function decodeFrame(data: ArrayBuffer, maxBytes = MAX_INFLATED_FRAME_BYTES, maxValues = MAX_FRAME_JSON_VALUES, maxStringChars = MAX_FRAME_STRING_CHARS, open?: FrameOpener): Promise<DecodedFrame> {
  const bytes = new Uint8Array(data);
  if (open && bytes.byteLength > 0 && (bytes[0] & ENCRYPTED_KIND_BIT) !== 0 && isRelayedFrameKind(bytes[0])) {
    const opened = await open(bytes);
    if (!opened) return { kind: (bytes[0] & ~ENCRYPTED_KIND_BIT) as FrameKind, full: false, events: [], encrypted: true };
    const plain = new Uint8Array(opened.payload.byteLength + 1);
    plain[0] = opened.kind;
    plain.set(opened.payload, 1);
    return { ...(await decodeFrame(plain.buffer, maxBytes, maxValues, maxStringChars)), encrypted: true, ...(opened.embedKey ? { embedKey: opened.embedKey } : {}) };
  }
  const kind = bytes[0];
  if (!isKnownFrameKind(kind)) throw new FrameError('unknown_kind', `unknown frame kind ${kind}`);
  const payload = bytes.subarray(1);
  if (kind === FrameKind.Asset) {
    // A bad asset is dropped on its own: it changes no DOM, so the stream has no gap.
    try {
      return { kind, full: false, events: [], asset: decodeAssetPayload(payload) };
    } catch {
      return { kind, full: false, events: [] };
    }
  }
  const compressed = kind === FrameKind.FullSnapshotDeflate || kind === FrameKind.IncrementalDeflate;
  if (!compressed && payload.byteLength > maxBytes) throw new FrameError('too_big', `payload over ${maxBytes} bytes`);
  const text = compressed ? await inflateRawCapped(payload, maxBytes) : new TextDecoder().decode(payload);
  let events: unknown;
  try {
    events = JSON.parse(text);
  } catch {
    throw new FrameError('bad_json', 'payload is not JSON');
  }
  if (!Array.isArray(events)) throw new FrameError('bad_json', 'frame payload is not an array of events');
  const over = overJsonCaps(events, maxValues, maxStringChars);
  if (over) throw new FrameError('too_big', over);
  return { kind, full: isFullSnapshotKind(kind), events };
}
