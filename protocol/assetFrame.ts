/**
 * Asset frames (kind 5): one same-origin image or font the visitor's page already loaded, sent by
 * the embed just before a full snapshot so the agent's view can show it without fetching it (the
 * agent may not reach the site, and fonts need CORS the site does not send). Content, like the
 * other frames: the relay forwards it verbatim and stores nothing.
 *
 * Payload (after the kind byte): uint16 big-endian header length, the header as UTF-8 JSON
 * `{"url": string, "type": string}`, then the asset's bytes (not compressed again: images and
 * fonts already are).
 */
import { FrameKind } from './frames.ts';

/** The largest single asset sent (bytes); bigger ones are left for the agent's browser to fetch. */
export const ASSET_MAX_BYTES = 2 * 1024 * 1024;
export const ASSET_MAX_URL_CHARS = 2048;
/** Content types an asset frame may carry, as the viewer will label its blob. */
export const ASSET_TYPES: ReadonlySet<string> = new Set([
  'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/svg+xml', 'image/x-icon', 'image/bmp',
  'font/woff2', 'font/woff', 'font/ttf', 'font/otf',
]);

export interface AssetFrame { url: string; type: string; bytes: Uint8Array }

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeAssetFrame(a: AssetFrame): Uint8Array {
  const header = enc.encode(JSON.stringify({ url: a.url, type: a.type }));
  if (header.byteLength > 0xffff) throw new Error('asset header too long');
  const out = new Uint8Array(3 + header.byteLength + a.bytes.byteLength);
  out[0] = FrameKind.Asset;
  out[1] = header.byteLength >> 8;
  out[2] = header.byteLength & 0xff;
  out.set(header, 3);
  out.set(a.bytes, 3 + header.byteLength);
  return out;
}

/** The payload after the kind byte; throws on anything malformed, oversized or of a type not listed. */
export function decodeAssetPayload(payload: Uint8Array): AssetFrame {
  if (payload.byteLength < 2) throw new Error('asset frame too short');
  const len = (payload[0] << 8) | payload[1];
  if (payload.byteLength < 2 + len) throw new Error('asset header truncated');
  const h: unknown = JSON.parse(dec.decode(payload.subarray(2, 2 + len)));
  if (typeof h !== 'object' || h === null) throw new Error('asset header is not an object');
  const { url, type } = h as Record<string, unknown>;
  if (typeof url !== 'string' || url.length > ASSET_MAX_URL_CHARS || !/^https?:\/\//i.test(url)) throw new Error('asset url is not an http(s) URL');
  if (typeof type !== 'string' || !ASSET_TYPES.has(type)) throw new Error('asset type not allowed');
  const bytes = payload.subarray(2 + len);
  if (bytes.byteLength > ASSET_MAX_BYTES) throw new Error('asset too big');
  return { url, type, bytes };
}
