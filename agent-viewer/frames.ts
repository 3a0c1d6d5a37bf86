/**
 * Decoding the visitor's binary frames: byte 0 is the kind (protocol/frames.ts); the rest is
 * the UTF-8 JSON of an array of rrweb events, deflate-raw compressed for kinds 3 and 4.
 */
import { decodeAssetPayload, type AssetFrame } from '../protocol/assetFrame.ts';
import { FrameKind, isFullSnapshotKind, isKnownFrameKind } from '../protocol/frames.ts';

export interface DecodedFrame {
  kind: FrameKind;
  full: boolean;
  events: unknown[];
  /** Kind 5: an image or font for the view (no events). */
  asset?: AssetFrame;
}

async function inflateRaw(bytes: Uint8Array): Promise<string> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return new Response(stream).text();
}

/** Throws on an unknown kind, a corrupt deflate stream or a payload that is not a JSON array. */
export async function decodeFrame(data: ArrayBuffer): Promise<DecodedFrame> {
  const bytes = new Uint8Array(data);
  const kind = bytes[0];
  if (!isKnownFrameKind(kind)) throw new Error(`unknown frame kind ${kind}`);
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
  const text = compressed ? await inflateRaw(payload) : new TextDecoder().decode(payload);
  const events: unknown = JSON.parse(text);
  if (!Array.isArray(events)) throw new Error('frame payload is not an array of events');
  return { kind, full: isFullSnapshotKind(kind), events };
}
