/**
 * Canvas pictures in the live view (the embed's client/canvas.ts sends them).
 *
 * rrweb's Replayer draws canvas events only with `UNSAFE_replayCanvas`, which puts
 * `allow-scripts` on the replay iframe: never here. Instead the viewer draws them itself, from
 * its own (trusted) script, onto the replayed `<canvas>` (the iframe is same-origin, so its
 * elements can be drawn on without any script running inside it). Only one shape is accepted,
 * checked field by field and rebuilt from the checked values: clearRect + drawImage of a PNG,
 * JPEG or WebP blob, of bounded size. The picture is decoded with `createImageBitmap` from
 * bytes: nothing is fetched. Anything else is dropped.
 */
export const MAX_PICTURE_BASE64 = 768 * 1024;
const TYPES = new Set(['image/webp', 'image/png', 'image/jpeg']);

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface CanvasPicture { id: number; type: string; base64: string }

/** A canvas-mutation event's picture, or null when it is anything but the expected shape. */
export function canvasPicture(e: unknown): CanvasPicture | null {
  if (!isObj(e) || e.type !== 3 || !isObj(e.data) || e.data.source !== 9) return null;
  const { id, commands } = e.data;
  if (typeof id !== 'number' || !Number.isInteger(id) || id <= 0 || !Array.isArray(commands) || commands.length !== 2) return null;
  const [clear, draw] = commands as unknown[];
  if (!isObj(clear) || clear.property !== 'clearRect' || !isObj(draw) || draw.property !== 'drawImage' || !Array.isArray(draw.args)) return null;
  const bitmap = draw.args[0];
  if (!isObj(bitmap) || bitmap.rr_type !== 'ImageBitmap' || !Array.isArray(bitmap.args)) return null;
  const blob = bitmap.args[0];
  if (!isObj(blob) || blob.rr_type !== 'Blob' || typeof blob.type !== 'string' || !TYPES.has(blob.type) || !Array.isArray(blob.data)) return null;
  const buf = blob.data[0];
  if (!isObj(buf) || buf.rr_type !== 'ArrayBuffer' || typeof buf.base64 !== 'string') return null;
  if (buf.base64.length > MAX_PICTURE_BASE64 || !/^[A-Za-z0-9+/]*={0,2}$/.test(buf.base64)) return null;
  return { id, type: blob.type, base64: buf.base64 };
}

/** The checked picture as a clean rrweb event (so it is played in order with the others). */
export function canvasEvent(p: CanvasPicture, timestamp: number): Json {
  return {
    type: 3, timestamp,
    data: { source: 9, id: p.id, type: 0, commands: [{ property: 'clearRect', args: [] }, { property: 'drawImage', args: [{ rr_type: 'ImageBitmap', args: [{ rr_type: 'Blob', data: [{ rr_type: 'ArrayBuffer', base64: p.base64 }], type: p.type }] }, 0, 0] }] },
  };
}

/** Draws pictures onto replayed canvases; a newer picture wins over one still decoding. */
export class CanvasPainter {
  private seq = new Map<number, number>();

  async paint(p: CanvasPicture, node: Node | null): Promise<void> {
    if (!node || node.nodeName !== 'CANVAS') return;
    const canvas = node as HTMLCanvasElement;
    const n = (this.seq.get(p.id) ?? 0) + 1;
    this.seq.set(p.id, n);
    const bin = atob(p.base64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    let bmp: ImageBitmap;
    try {
      bmp = await createImageBitmap(new Blob([bytes], { type: p.type }));
    } catch {
      return; // not a decodable picture
    }
    try {
      if (this.seq.get(p.id) !== n) return;
      const ctx = canvas.getContext('2d');
      if (!ctx) return;
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(bmp, 0, 0);
    } finally {
      bmp.close();
    }
  }
}
