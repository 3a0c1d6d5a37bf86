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

/** Builds a frame: kind byte followed by the payload. Used by clients and tests, never by the relay. */
export function encodeFrame(kind: FrameKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.byteLength + 1);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}
