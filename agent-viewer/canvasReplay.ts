/**
 * Canvas pictures in the live view (the embed's client/canvas.ts sends them).
 *
 * rrweb's Replayer draws canvas events only with `UNSAFE_replayCanvas`, which puts
 * `allow-scripts` on the replay iframe: never here. Instead the viewer shows them itself, from
 * its own (trusted) script, on the replayed `<canvas>` (the iframe is same-origin, so its
 * elements can be styled without any script running inside it). Only one shape is accepted,
 * checked field by field and rebuilt from the checked values: clearRect + drawImage of a PNG,
 * JPEG or WebP blob, of bounded size. The picture is made a blob: URL from the bytes and
 * decoded before use: nothing is fetched. Anything else is dropped.
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

/**
 * Shows pictures on replayed canvases. A `<canvas>` in a document without scripts renders its
 * fallback content, never its bitmap (HTML: "when scripting is disabled, the canvas represents its
 * fallback content"), so drawing into it shows nothing. Instead the picture becomes the element's
 * CSS `content: url(blob:…)`: the canvas is then drawn as that image, sized like the canvas (the
 * picture has the canvas's pixel size; the page's CSS width/height scale it as they scale the
 * canvas). A newer picture wins over one still decoding; blob: URLs are revoked when replaced.
 */
export class CanvasPainter {
  private seq = new Map<number, number>();
  private urls = new Map<number, string>();
  private shown = new WeakMap<Element, string>();
  private watched = new WeakSet<Document>();

  async paint(p: CanvasPicture, node: Node | null): Promise<void> {
    if (!node || node.nodeName !== 'CANVAS') return;
    const canvas = node as HTMLCanvasElement;
    const n = (this.seq.get(p.id) ?? 0) + 1;
    this.seq.set(p.id, n);
    const bin = atob(p.base64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const url = URL.createObjectURL(new Blob([bytes], { type: p.type }));
    try {
      // Decoded before it is shown: only a real picture is used, and the swap has no blank frame.
      const img = new Image();
      img.src = url;
      await img.decode();
    } catch {
      URL.revokeObjectURL(url);
      return; // not a decodable picture
    }
    if (this.seq.get(p.id) !== n) {
      URL.revokeObjectURL(url);
      return;
    }
    this.shown.set(canvas, url);
    this.show(canvas);
    this.watch(canvas.ownerDocument);
    const old = this.urls.get(p.id);
    this.urls.set(p.id, url);
    if (old) URL.revokeObjectURL(old);
  }

  private show(canvas: Element): void {
    const url = this.shown.get(canvas);
    const style = (canvas as HTMLElement).style;
    if (url && !style.getPropertyValue('content').includes(url)) style.setProperty('content', `url("${url}")`, 'important');
  }

  /** The page's own style changes on a canvas (chart libraries set its size) replace the style attribute: put the picture back. */
  private watch(doc: Document): void {
    if (this.watched.has(doc)) return;
    this.watched.add(doc);
    new MutationObserver((records) => {
      for (const r of records) if (r.target.nodeName === 'CANVAS') this.show(r.target as Element);
    }).observe(doc, { subtree: true, attributes: true, attributeFilter: ['style'] });
  }

  /** The view was rebuilt or cleared: its pictures are gone. */
  reset(): void {
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
    this.seq.clear();
  }
}
