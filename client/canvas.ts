/**
 * Canvas streaming: rrweb serialises a canvas as an empty element, so charts and drawings were
 * blank in the view. While sharing, every visible, unmasked canvas is sampled at most
 * CANVAS_FPS times a second, encoded off the main thread by the browser (`toBlob`, WebP), and
 * sent only when its picture changed, as an rrweb canvas-mutation event (the shape rrweb's own
 * FPS sampler emits: clearRect + drawImage of an image blob), within a byte budget per second.
 * Masked canvases (`data-cobrowse-hidden`, the customer's block selector) are never read: the
 * agent sees rrweb's gray box. A canvas the page cannot read (tainted by a cross-origin image)
 * is skipped. WebGL: sampled like any canvas; one drawn without `preserveDrawingBuffer` reads
 * back blank between frames and then shows blank (never cleared on the visitor's side).
 */
export const CANVAS_FPS = 2;
/** Encoded bytes sent for all canvases together, per second. */
export const CANVAS_BYTES_PER_SEC = 512 * 1024;
/** A single canvas picture larger than this is not sent. */
export const CANVAS_MAX_PICTURE_BYTES = 384 * 1024;

export type CanvasEvent = { type: 3; timestamp: number; data: Record<string, unknown> };

function toBlob(canvas: HTMLCanvasElement): Promise<Blob | null> {
  return new Promise((resolve) => {
    try {
      canvas.toBlob(resolve, 'image/webp', 0.85);
    } catch {
      resolve(null); // tainted: the page itself may not read it
    }
  });
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function inViewport(el: Element): boolean {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
}

export class CanvasSampler {
  private timer?: ReturnType<typeof setInterval>;
  private busy = false;
  /** Last picture sent per canvas (its base64): unchanged pictures are not sent again. */
  private sent = new WeakMap<HTMLCanvasElement, string>();

  constructor(
    private readonly emit: (e: CanvasEvent) => void,
    /** rrweb id of a recorded node (≤ 0 when not recorded). */
    private readonly idOf: (n: Node) => number,
    /** Masked by the customer's rules: never read. */
    private readonly masked: (el: Element) => boolean,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.stop();
    this.timer = setInterval(() => void this.sample(), 1000 / CANVAS_FPS);
    void this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sent = new WeakMap();
  }

  /** After a full snapshot the view has blank canvases again: send every picture anew. */
  resend(): void {
    this.sent = new WeakMap();
    if (this.timer) void this.sample();
  }

  private async sample(): Promise<void> {
    if (this.busy) return; // the previous round is still encoding: skip, never queue
    this.busy = true;
    try {
      let budget = CANVAS_BYTES_PER_SEC / CANVAS_FPS;
      for (const canvas of Array.from(document.querySelectorAll('canvas'))) {
        if (!this.timer || budget <= 0) break;
        if (!canvas.width || !canvas.height || !inViewport(canvas) || this.masked(canvas)) continue;
        const id = this.idOf(canvas);
        if (!(id > 0)) continue;
        const blob = await toBlob(canvas);
        if (!blob || blob.size > CANVAS_MAX_PICTURE_BYTES || blob.size > budget) continue;
        const data = base64(new Uint8Array(await blob.arrayBuffer()));
        if (!this.timer || this.sent.get(canvas) === data) continue;
        this.sent.set(canvas, data);
        budget -= blob.size;
        this.emit({
          type: 3,
          timestamp: Date.now(),
          data: {
            source: 9, id, type: 0,
            commands: [
              { property: 'clearRect', args: [0, 0, canvas.width, canvas.height] },
              { property: 'drawImage', args: [{ rr_type: 'ImageBitmap', args: [{ rr_type: 'Blob', data: [{ rr_type: 'ArrayBuffer', base64: data }], type: blob.type }] }, 0, 0] },
            ],
          },
        });
      }
    } catch (err) {
      this.onError(err);
    } finally {
      this.busy = false;
    }
  }
}
