/**
 * Deflate bombs: deflate-raw streams of zeros, built by repeating one fully flushed segment (each
 * segment is byte-aligned and independent, so copies concatenate into a valid stream) without ever
 * holding the gigabytes they inflate to.
 */
import zlib from 'node:zlib';
import { encodeFrame, FrameKind } from '../../protocol/frames.ts';

const SEGMENT_ZEROS = 16 * 1024 * 1024;

/** About `compressedBytes` of deflate-raw that inflates to roughly 1000× as many zero bytes. */
export function deflateBomb(compressedBytes: number): { payload: Buffer; inflatedBytes: number } {
  const segment = zlib.deflateRawSync(Buffer.alloc(SEGMENT_ZEROS), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  const copies = Math.max(1, Math.round(compressedBytes / segment.byteLength));
  const end = zlib.deflateRawSync(Buffer.alloc(0)); // the final (empty) block
  return { payload: Buffer.concat([...Array(copies).fill(segment), end]), inflatedBytes: copies * SEGMENT_ZEROS };
}

/** A compressed incremental frame (kind 4) carrying a bomb. */
export function bombFrame(compressedBytes: number): { frame: Uint8Array; inflatedBytes: number } {
  const { payload, inflatedBytes } = deflateBomb(compressedBytes);
  return { frame: encodeFrame(FrameKind.IncrementalDeflate, payload), inflatedBytes };
}
