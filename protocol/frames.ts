/**
 * Binary frames: byte 0 is the kind, the rest is opaque to the relay.
 * The relay reads only byte 0 (to refuse unknown kinds) and forwards the
 * frame verbatim to the tab's topic.
 */
import { DEFAULT_MAX_PAYLOAD_BYTES } from './limits.ts';

export const FrameKind = {
  /** A full DOM snapshot (rrweb events JSON, possibly deflate-compressed). */
  FullSnapshot: 1,
  /** A batch of incremental events (mutations, scroll, input, mouse). */
  Incremental: 2,
  /** Same as FullSnapshot, payload compressed with CompressionStream('deflate-raw'). */
  FullSnapshotDeflate: 3,
  /** Same as Incremental, payload compressed with CompressionStream('deflate-raw'). */
  IncrementalDeflate: 4,
  /** One image or font of the page, sent before a full snapshot (protocol/assetFrame.ts). */
  Asset: 5,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const KNOWN = new Set<number>(Object.values(FrameKind));

/**
 * Set on byte 0 of an end-to-end encrypted frame: the kind is `ENCRYPTED_KIND_BIT | plain kind` and
 * the payload is the clear header + ciphertext of protocol/e2e.ts. The relay forwards it as any other.
 */
export const ENCRYPTED_KIND_BIT = 0x80;

export function isKnownFrameKind(kind: number): kind is FrameKind {
  return KNOWN.has(kind);
}

/** A kind the relay forwards: a known kind, plain or encrypted. */
export function isRelayedFrameKind(kind: number): boolean {
  return Number.isInteger(kind) && kind >= 0 && kind <= 0xff && KNOWN.has(kind & ~ENCRYPTED_KIND_BIT);
}

/** Full snapshot, plain or encrypted. */
export function isFullSnapshotKind(kind: number): boolean {
  const plain = kind & ~ENCRYPTED_KIND_BIT;
  return plain === FrameKind.FullSnapshot || plain === FrameKind.FullSnapshotDeflate;
}

/** Builds a frame: kind byte followed by the payload. The embed's sender, the benchmark and tests use it; never the relay. */
export function encodeFrame(kind: FrameKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.byteLength + 1);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}

/**
 * Largest payload a frame may inflate to (kinds 3 and 4), and largest JSON payload of any frame, in
 * bytes. A viewer stops inflating past it and drops the frame (a deflate bomb must not cost the agent's
 * browser gigabytes); the embed must stay under it. 32 MiB (was 64): a 10,000-node page's snapshot
 * inflates to 0.7 MiB and the benchmark's largest snapshot is 5 MB, so this is over 6× the largest
 * realistic one, and 2 × the default MAX_PAYLOAD_BYTES (an uncompressed frame the relay accepts fits).
 */
export const MAX_INFLATED_FRAME_BYTES = 2 * DEFAULT_MAX_PAYLOAD_BYTES;

/**
 * Longest single JSON string (or object key), in UTF-16 code units, a frame may hold. A page's real
 * strings are text, attribute values and inlined stylesheets (a large site's CSS is 1–2 MB); one
 * string of tens of MB is an attack on the agent's browser (a text node it would have to lay out).
 * Over it, the viewer's worker drops the frame as too big.
 */
export const MAX_FRAME_STRING_CHARS = 4 * 1024 * 1024;

/**
 * Most JSON values (objects, arrays, strings, numbers, …, each counted once) a frame's payload may
 * hold. The viewer must hand the parsed events to its UI thread, at a cost per value: 64 MiB of `[]`
 * is 20 million values and seconds of frozen UI, while a large real page's snapshot is a few
 * hundred thousand. Over it, the viewer drops the frame as too big.
 */
export const MAX_FRAME_JSON_VALUES = 1_000_000;

/**
 * The viewer's bounds on frames waiting to be applied (agent-viewer/frameInbox.ts). A decoded frame
 * can be tens of MiB of parsed events held by the UI thread, so at most this many are being decoded
 * or waiting decoded; the rest wait compressed, in order.
 */
export const MAX_VIEWER_DECODES_IN_FLIGHT = 2;
/**
 * Past this many frames, or this many wire bytes, waiting in the viewer, it drops them all and asks
 * for a fresh snapshot (as the relay does for a slow agent). Bytes: 2 × the default largest frame,
 * so one full snapshot of the largest size the relay accepts by default always fits.
 */
export const MAX_VIEWER_QUEUED_FRAMES = 256;
export const MAX_VIEWER_QUEUED_FRAME_BYTES = 2 * DEFAULT_MAX_PAYLOAD_BYTES;
