/**
 * Asset frames: the same-origin images and fonts the page already loaded, sent to the agent's
 * view with each full snapshot (protocol/assetFrame.ts), so the view looks like the page even
 * where the agent's browser cannot fetch them (fonts without CORS, http sites, intranets).
 *
 * What is sent, and why it is safe to send:
 * - only URLs the masked snapshot itself references (img src/srcset, CSS url() in style sheets,
 *   @font-face and style attributes): what masking removed is never looked up;
 * - only same-origin http(s) URLs the page has already loaded (Resource Timing, or a complete
 *   `<img>`): they are read with `cache: 'force-cache'`, from the browser's cache, not fetched anew;
 * - only images and fonts (ASSET_TYPES), each at most ASSET_MAX_BYTES, ASSET_BUDGET_BYTES in all
 *   per snapshot, fonts first (they change the layout), then images in document order;
 * - read once per sharing session (kept in memory until sharing stops), re-sent with every full
 *   snapshot (a late or resynced agent needs them; snapshots are rare and rate-limited);
 * - the snapshot waits for them at most ASSET_WAIT_MS: what is not ready by then is skipped;
 * - an `<img>` that finishes loading later (lazy images, content added by the page) is sent when it
 *   has loaded, if it is not masked (`watchLateImages`), within the same budget; the view then
 *   points that image at it.
 */
import { ASSET_MAX_BYTES, ASSET_TYPES, type AssetFrame } from '../protocol/assetFrame.ts';

/** Bytes of assets sent with one full snapshot. */
export const ASSET_BUDGET_BYTES = 6 * 1024 * 1024;
/** The longest a full snapshot waits for its assets. */
export const ASSET_WAIT_MS = 1000;
/** Distinct URLs looked at per snapshot. */
const MAX_CANDIDATES = 300;

const URL_IN_CSS = /url\(\s*(?:"([^"\\]*)"|'([^'\\]*)'|([^\s"'()\\]+))\s*\)/gi;
const FONT_EXT: Record<string, string> = { woff2: 'font/woff2', woff: 'font/woff', ttf: 'font/ttf', otf: 'font/otf' };
const TYPE_ALIASES: Record<string, string> = {
  'application/font-woff': 'font/woff', 'application/x-font-woff': 'font/woff', 'application/font-woff2': 'font/woff2',
  'application/x-font-ttf': 'font/ttf', 'application/x-font-truetype': 'font/ttf', 'application/font-sfnt': 'font/ttf',
  'application/x-font-opentype': 'font/otf', 'image/jpg': 'image/jpeg', 'image/vnd.microsoft.icon': 'image/x-icon',
};

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Candidate { url: string; font: boolean }

/** URLs referenced by a serialised (already masked) node tree, in document order, fonts marked. */
export function referencedUrls(root: unknown): Candidate[] {
  const out = new Map<string, Candidate>();
  const addCss = (css: string) => {
    if (!css.includes('url(')) return;
    // A url() inside an @font-face block is a font.
    for (const block of css.split('}')) {
      const font = /@font-face\s*\{/i.test(block);
      for (const m of block.matchAll(URL_IN_CSS)) add(m[1] ?? m[2] ?? m[3] ?? '', font);
    }
  };
  const add = (url: string, font: boolean) => {
    if (!url || out.size >= MAX_CANDIDATES) return;
    const prev = out.get(url);
    if (!prev) out.set(url, { url, font });
    else if (font) prev.font = true;
  };
  const stack: Array<{ n: unknown; style: boolean }> = [{ n: root, style: false }];
  while (stack.length) {
    const { n, style } = stack.pop()!;
    if (!isObj(n)) continue;
    if (n.type === 3 && typeof n.textContent === 'string' && (style || n.isStyle === true)) addCss(n.textContent);
    const attrs = isObj(n.attributes) ? n.attributes : {};
    for (const k of ['_cssText', 'style']) if (typeof attrs[k] === 'string') addCss(attrs[k] as string);
    for (const k of ['src', 'poster']) if (typeof attrs[k] === 'string') add(attrs[k] as string, false);
    if (typeof attrs.srcset === 'string') for (const part of (attrs.srcset as string).split(',')) add(part.trim().split(/\s+/)[0], false);
    const kids = Array.isArray(n.childNodes) ? n.childNodes : [];
    const isStyle = n.type === 2 && n.tagName === 'style';
    // Reversed onto the stack so they come off in document order.
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ n: kids[i], style: isStyle });
  }
  return [...out.values()];
}

/** URLs this page has loaded (so reading them again hits the cache). */
function loadedUrls(): Set<string> {
  const loaded = new Set<string>();
  try {
    for (const e of performance.getEntriesByType('resource')) loaded.add(e.name);
  } catch {
    /* no Resource Timing */
  }
  for (const img of Array.from(document.images)) if (img.complete && img.naturalWidth > 0 && img.currentSrc) loaded.add(img.currentSrc);
  return loaded;
}

function sameOrigin(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === location.origin;
  } catch {
    return false;
  }
}

function assetType(contentType: string | null, url: string): string | undefined {
  const t = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const norm = TYPE_ALIASES[t] ?? t;
  if (ASSET_TYPES.has(norm)) return norm;
  // Servers often label fonts application/octet-stream: go by the extension then.
  const ext = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(new URL(url).pathname)?.[1]?.toLowerCase();
  return ext && FONT_EXT[ext] && (!t || t === 'application/octet-stream' || t.startsWith('font/') || t.startsWith('application/')) ? FONT_EXT[ext] : undefined;
}

async function read(url: string): Promise<AssetFrame | null> {
  const res = await fetch(url, { cache: 'force-cache', credentials: 'same-origin', redirect: 'error' });
  if (!res.ok) return null;
  const type = assetType(res.headers.get('content-type'), url);
  const declared = Number(res.headers.get('content-length'));
  if (!type || declared > ASSET_MAX_BYTES) {
    void res.body?.cancel();
    return null;
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  return bytes.byteLength <= ASSET_MAX_BYTES ? { url, type, bytes } : null;
}

export class AssetCollector {
  /** Read once per sharing session: url → asset (null: not sendable). */
  private cache = new Map<string, Promise<AssetFrame | null>>();
  /** For the cost benchmark and support: what the last snapshot carried. */
  last = { candidates: 0, sent: 0, bytes: 0, ms: 0 };
  /** The page's CSP forbids reading its own files (`connect-src` without 'self'): stop trying, so it reports one batch of violations, not one per snapshot. */
  private blocked = false;

  constructor() {
    try {
      document.addEventListener('securitypolicyviolation', (e) => {
        if (e.effectiveDirective === 'connect-src' && sameOrigin(e.blockedURI)) this.blocked = true;
      });
    } catch {
      /* not in a page */
    }
  }

  /**
   * The assets to send before this snapshot, within the budget and ASSET_WAIT_MS. Synchronously
   * an empty list when there is nothing to read, so such a snapshot is not delayed by a tick.
   */
  collect(snapshotNode: unknown): AssetFrame[] | Promise<AssetFrame[]> {
    const t0 = performance.now();
    if (this.blocked) {
      this.noteSent([]);
      return [];
    }
    const loaded = loadedUrls();
    const cands = referencedUrls(snapshotNode).filter((c) => sameOrigin(c.url) && loaded.has(c.url));
    if (!cands.length) {
      this.last = { candidates: 0, sent: 0, bytes: 0, ms: Math.round(performance.now() - t0) };
      this.noteSent([]);
      return [];
    }
    cands.sort((a, b) => Number(b.font) - Number(a.font)); // stable: fonts first, then document order
    return this.read(cands, t0);
  }

  private async read(cands: Candidate[], t0: number): Promise<AssetFrame[]> {
    const reads = cands.map((c) => {
      let p = this.cache.get(c.url);
      if (!p) {
        p = read(c.url).catch(() => null);
        this.cache.set(c.url, p);
      }
      return p;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ASSET_WAIT_MS)));
    const settled: Array<AssetFrame | null> = new Array(reads.length).fill(null);
    await Promise.race([Promise.all(reads.map((p, i) => p.then((a) => (settled[i] = a)))), timeout]);
    clearTimeout(timer);
    const out: AssetFrame[] = [];
    let budget = ASSET_BUDGET_BYTES;
    for (const a of settled) {
      if (!a || a.bytes.byteLength > budget) continue;
      budget -= a.bytes.byteLength;
      out.push(a);
    }
    this.last = { candidates: cands.length, sent: out.length, bytes: ASSET_BUDGET_BYTES - budget, ms: Math.round(performance.now() - t0) };
    this.noteSent(out);
    return out;
  }

  /** URLs sent since the last full snapshot, and their bytes: late images are sent once, within the budget. */
  private sentSince = new Set<string>();
  private sentBytes = 0;
  private observer?: PerformanceObserver;

  /** What a snapshot carried: the starting point for late images. */
  private noteSent(assets: AssetFrame[]): void {
    this.sentSince = new Set(assets.map((a) => a.url));
    this.sentBytes = assets.reduce((n, a) => n + a.bytes.byteLength, 0);
  }

  /**
   * While sharing: each same-origin image that finishes loading and is shown by an `<img>` that is
   * not masked is read (from the cache) and handed to `send`, once per snapshot, within the budget.
   */
  watchLateImages(send: (a: AssetFrame) => void, masked: (el: Element) => boolean): void {
    this.stopLateImages();
    if (typeof PerformanceObserver === 'undefined') return;
    this.observer = new PerformanceObserver((list) => {
      if (this.blocked) return;
      for (const e of list.getEntries() as PerformanceResourceTiming[]) {
        const url = e.name;
        if (e.initiatorType !== 'img' || this.sentSince.has(url) || !sameOrigin(url)) continue;
        const shown = Array.from(document.images).some((img) => img.currentSrc === url && !masked(img));
        if (!shown) continue;
        this.sentSince.add(url);
        let p = this.cache.get(url);
        if (!p) {
          p = read(url).catch(() => null);
          this.cache.set(url, p);
        }
        void p.then((a) => {
          if (!a || !this.observer || this.sentBytes + a.bytes.byteLength > ASSET_BUDGET_BYTES) return;
          this.sentBytes += a.bytes.byteLength;
          send(a);
        });
      }
    });
    try {
      this.observer.observe({ type: 'resource' });
    } catch {
      this.observer = undefined;
    }
  }

  stopLateImages(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }

  /** Sharing stopped: forget what was read. */
  reset(): void {
    this.stopLateImages();
    this.cache.clear();
    this.sentSince.clear();
    this.sentBytes = 0;
  }
}
