/** Reads what the embed sends: binary frames (kinds 3/4 are deflate-raw) and their rrweb events. */
import zlib from 'node:zlib';

/** The frame's payload as text, inflated when the kind says it is compressed. */
export function decodeFrame(frame: Buffer | Uint8Array): string {
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const body = buf.subarray(1);
  return buf[0] === 3 || buf[0] === 4 ? zlib.inflateRawSync(body).toString('utf8') : body.toString('utf8');
}

export type RrEvent = { type: number; data: any; timestamp: number };

/** The rrweb events of a frame; none for an asset frame (kind 5: an image or font, protocol/assetFrame.ts). */
export function frameEvents(frame: Buffer | Uint8Array): RrEvent[] {
  if (frame[0] === 5) return [];
  return JSON.parse(decodeFrame(frame)) as RrEvent[];
}

export function isFullSnapshotFrame(frame: Buffer | Uint8Array): boolean {
  return frame[0] === 1 || frame[0] === 3;
}
