/**
 * Binary frames: byte 0 is the kind, the rest is opaque to the relay.
 * The relay reads only byte 0 (to refuse unknown kinds) and forwards the
 * frame verbatim to the tab's topic.
 */
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

export function isKnownFrameKind(kind: number): kind is FrameKind {
  return KNOWN.has(kind);
}

export function isFullSnapshotKind(kind: number): boolean {
  return kind === FrameKind.FullSnapshot || kind === FrameKind.FullSnapshotDeflate;
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
 * browser gigabytes); the embed must stay under it. 4 × the default MAX_PAYLOAD_BYTES.
 */
export const MAX_INFLATED_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Most JSON values (objects, arrays, strings, numbers, …, each counted once) a frame's payload may
 * hold. The viewer must hand the parsed events to its UI thread, at a cost per value: 64 MiB of `[]`
 * is 20 million values and seconds of frozen UI, while a large real page's snapshot is a few
 * hundred thousand. Over it, the viewer drops the frame as too big.
 */
export const MAX_FRAME_JSON_VALUES = 1_000_000;
