/**
 * A tiny PNG decoder (8-bit RGB/RGBA, non-interlaced: what Chromium's screenshots are) on
 * node:zlib, and a pixel comparison, for the viewer's fidelity test. No npm dependency.
 */
import zlib from 'node:zlib';

export interface Image {
  width: number;
  height: number;
  /** RGBA, 4 bytes a pixel. */
  data: Uint8Array;
}

export function decodePng(buf: Buffer): Image {
  if (buf.readUInt32BE(0) !== 0x89504e47 || buf.readUInt32BE(4) !== 0x0d0a1a0a) throw new Error('not a PNG');
  let pos = 8;
  let width = 0, height = 0, depth = 0, colorType = 0, interlace = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      depth = body[8];
      colorType = body[9];
      interlace = body[12];
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  if (depth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0) {
    throw new Error(`unsupported PNG (depth ${depth}, colour type ${colorType}, interlace ${interlace})`);
  }
  const bpp = colorType === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const out = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let v = line[i];
      switch (filter) {
        case 1: v += a; break;
        case 2: v += b; break;
        case 3: v += (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
      }
      cur[i] = v & 255;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      out[o] = cur[x * bpp];
      out[o + 1] = cur[x * bpp + 1];
      out[o + 2] = cur[x * bpp + 2];
      out[o + 3] = bpp === 4 ? cur[x * bpp + 3] : 255;
    }
    prev = cur;
  }
  return { width, height, data: out };
}

export interface Diff {
  /** Pixels whose largest channel difference exceeds the tolerance. */
  differing: number;
  total: number;
  /** differing / total, in percent. */
  percent: number;
  /** Mean absolute difference per channel over all pixels (0-255). */
  meanAbs: number;
  /** Bounding box of the differing pixels, if any. */
  box?: { x0: number; y0: number; x1: number; y1: number };
}

export interface Rect { x: number; y: number; width: number; height: number }

const inside = (rects: Rect[], x: number, y: number) => rects.some((r) => x >= r.x && y >= r.y && x < r.x + r.width && y < r.y + r.height);

/**
 * Compares two images of the same size; `tolerance` absorbs anti-aliasing noise (0-255 per channel).
 * Pixels inside `exclude` (areas that differ on purpose, e.g. masked blocks) are not counted.
 */
export function comparePixels(a: Image, b: Image, tolerance = 32, exclude: Rect[] = []): Diff {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  let differing = 0;
  let sum = 0;
  let skipped = 0;
  let box: Diff['box'];
  for (let i = 0, p = 0; i < a.data.length; i += 4, p++) {
    if (exclude.length && inside(exclude, p % a.width, Math.floor(p / a.width))) {
      skipped++;
      continue;
    }
    let max = 0;
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(a.data[i + c] - b.data[i + c]);
      sum += d;
      if (d > max) max = d;
    }
    if (max > tolerance) {
      differing++;
      const x = p % a.width, y = Math.floor(p / a.width);
      box = box ? { x0: Math.min(box.x0, x), y0: Math.min(box.y0, y), x1: Math.max(box.x1, x), y1: Math.max(box.y1, y) } : { x0: x, y0: y, x1: x, y1: y };
    }
  }
  const total = a.width * a.height - skipped;
  return { differing, total, percent: (differing / total) * 100, meanAbs: sum / (total * 3), box };
}

/** Share (percent) of the pixels of `rect` in `img` within `tolerance` of `rgb`. */
export function shareOfColour(img: Image, rect: Rect, rgb: [number, number, number], tolerance = 8): number {
  let n = 0, hit = 0;
  for (let y = Math.max(0, rect.y); y < Math.min(img.height, rect.y + rect.height); y++) {
    for (let x = Math.max(0, rect.x); x < Math.min(img.width, rect.x + rect.width); x++) {
      const o = (y * img.width + x) * 4;
      n++;
      if (Math.abs(img.data[o] - rgb[0]) <= tolerance && Math.abs(img.data[o + 1] - rgb[1]) <= tolerance && Math.abs(img.data[o + 2] - rgb[2]) <= tolerance) hit++;
    }
  }
  return n ? (hit / n) * 100 : 0;
}
