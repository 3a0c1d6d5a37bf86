/**
 * The visitor's images and fonts, from asset frames (protocol/assetFrame.ts), as blob: URLs.
 *
 * Why: the view would otherwise fetch them from the customer's site, which fails for fonts
 * without CORS headers (every @font-face of a site is cross-origin to the viewer), for http
 * sites (the viewer's CSP allows only https: and blob:), and for intranet/VPN sites the agent
 * cannot reach. The embed sends what the page already loaded; the viewer keeps it in memory for
 * the session (nothing on the relay) and rewrites references to it, after the sanitiser, in
 * img src/srcset, CSS url() (style sheets, @font-face, style attributes, adopted sheets), so the
 * view loads bytes it already has. Only URLs the sanitiser's policy allows (the account's page
 * origins) are accepted; blob: URLs are ours, so the CSPs (blob: for img/font) need no widening.
 */
import type { AssetFrame } from '../protocol/assetFrame.ts';
import { parseSrcset, urlAllowed, type UrlPolicy } from './sanitize/index.ts';

/** All assets held for one session (bytes); past it new ones are ignored and load as before. */
export const VIEWER_ASSET_BUDGET_BYTES = 24 * 1024 * 1024;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const URL_IN_CSS = /url\(\s*(?:"([^"\\]*)"|'([^'\\]*)'|([^\s"'()\\]+))\s*\)/gi;
const CSS_ATTRS = new Set(['style', '_cssText']);
// Not href: a link to a blob: would let a click open it.
const SRC_ATTRS = new Set(['src', 'poster', 'background']);

export class AssetStore {
  private byUrl = new Map<string, { blobUrl: string; size: number }>();
  private bytes = 0;

  constructor(private readonly policy: UrlPolicy) {}

  get count(): number {
    return this.byUrl.size;
  }

  /** Keeps one asset; false when refused (not an allowed origin, over budget). A URL already held keeps its blob. */
  add(a: AssetFrame): boolean {
    if (this.byUrl.has(a.url)) return true;
    if (!urlAllowed(a.url, this.policy, 'resource')) return false;
    if (this.bytes + a.bytes.byteLength > VIEWER_ASSET_BUDGET_BYTES) return false;
    const blobUrl = URL.createObjectURL(new Blob([a.bytes as BlobPart], { type: a.type }));
    this.byUrl.set(a.url, { blobUrl, size: a.bytes.byteLength });
    this.bytes += a.bytes.byteLength;
    return true;
  }

  lookup(url: string): string | undefined {
    return this.byUrl.get(url)?.blobUrl;
  }

  clear(): void {
    for (const v of this.byUrl.values()) URL.revokeObjectURL(v.blobUrl);
    this.byUrl.clear();
    this.bytes = 0;
  }

  /** CSS text with every url() of a held asset pointing at its blob. */
  css(text: string): string {
    if (!this.byUrl.size || !text.includes('url(')) return text;
    return text.replace(URL_IN_CSS, (m, dq?: string, sq?: string, bare?: string) => {
      const blob = this.lookup(dq ?? sq ?? bare ?? '');
      return blob ? `url("${blob}")` : m;
    });
  }

  /** A srcset whose held candidates point at their blobs; when some are held, only those are kept (the others may be unreachable). */
  srcset(v: string): string {
    const cands = parseSrcset(v);
    const held = cands.filter((c) => this.lookup(c.url));
    if (!held.length) return v;
    return held.map((c) => `${this.lookup(c.url)}${c.descriptor ? ` ${c.descriptor}` : ''}`).join(', ');
  }

  /**
   * An image that arrived after the elements showing it were replayed, or before the Replayer has
   * applied them (it loaded late on the visitor's page): point those `<img>` at it now, and from
   * then on watch the replayed document for `<img>` added or changed with a URL held here.
   */
  patchImages(doc: Document, url: string): void {
    if (!this.lookup(url)) return;
    for (const img of Array.from(doc.images)) this.patchImg(img);
    if (this.watched.has(doc)) return;
    this.watched.add(doc);
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes') {
          if (r.target.nodeName === 'IMG') this.patchImg(r.target as HTMLImageElement);
          continue;
        }
        for (const n of Array.from(r.addedNodes)) {
          if (n.nodeType !== Node.ELEMENT_NODE) continue;
          const el = n as Element;
          if (el.nodeName === 'IMG') this.patchImg(el as HTMLImageElement);
          for (const img of Array.from(el.getElementsByTagName('img'))) this.patchImg(img);
        }
      }
    }).observe(doc, { subtree: true, childList: true, attributes: true, attributeFilter: ['src', 'srcset'] });
  }

  private watched = new WeakSet<Document>();

  private patchImg(img: HTMLImageElement): void {
    const src = img.getAttribute('src');
    const blob = src ? this.lookup(src) : undefined;
    if (blob) img.setAttribute('src', blob);
    const srcset = img.getAttribute('srcset');
    if (srcset && !srcset.startsWith('blob:')) {
      const next = this.srcset(srcset);
      if (next !== srcset) img.setAttribute('srcset', next);
    }
  }

  /** Rewrites a sanitised event in place. */
  rewriteEvent(e: Json): void {
    if (!this.byUrl.size || !isObj(e.data)) return;
    const d = e.data;
    if (e.type === 2) return this.node(d.node);
    if (e.type !== 3) return;
    switch (d.source) {
      case 0: // mutation
        for (const a of Array.isArray(d.adds) ? d.adds : []) if (isObj(a)) this.node(a.node);
        for (const a of Array.isArray(d.attributes) ? d.attributes : []) if (isObj(a) && isObj(a.attributes)) this.attrs(a.attributes);
        for (const t of Array.isArray(d.texts) ? d.texts : []) if (isObj(t) && typeof t.value === 'string') t.value = this.css(t.value);
        return;
      case 8: // style sheet rules
        for (const r of Array.isArray(d.adds) ? d.adds : []) if (isObj(r) && typeof r.rule === 'string') r.rule = this.css(r.rule);
        for (const k of ['replace', 'replaceSync']) if (typeof d[k] === 'string') d[k] = this.css(d[k] as string);
        return;
      case 13: // style declaration
        if (isObj(d.set) && typeof d.set.value === 'string') d.set.value = this.css(d.set.value);
        return;
      case 15: // adopted style sheets
        for (const s of Array.isArray(d.styles) ? d.styles : []) {
          if (!isObj(s)) continue;
          for (const r of Array.isArray(s.rules) ? s.rules : []) if (isObj(r) && typeof r.rule === 'string') r.rule = this.css(r.rule);
        }
        return;
    }
  }

  private attrs(attrs: Json): void {
    for (const [k, v] of Object.entries(attrs)) {
      if (typeof v === 'string') {
        if (CSS_ATTRS.has(k)) attrs[k] = this.css(v);
        else if (k === 'srcset') attrs[k] = this.srcset(v);
        else if (SRC_ATTRS.has(k)) attrs[k] = this.lookup(v) ?? v;
      } else if (k === 'style' && isObj(v)) {
        // A style diff: property → value | [value, priority] | false.
        for (const [p, pv] of Object.entries(v)) {
          if (typeof pv === 'string') v[p] = this.css(pv);
          else if (Array.isArray(pv) && typeof pv[0] === 'string') pv[0] = this.css(pv[0]);
        }
      }
    }
  }

  /** A serialised node and its descendants (iterative: pages can be deep). */
  private node(root: unknown): void {
    const stack: Array<{ n: unknown; styleParent: boolean }> = [{ n: root, styleParent: false }];
    while (stack.length) {
      const { n, styleParent } = stack.pop()!;
      if (!isObj(n)) continue;
      if (n.type === 3 && typeof n.textContent === 'string' && (styleParent || n.isStyle === true)) n.textContent = this.css(n.textContent);
      if (isObj(n.attributes)) this.attrs(n.attributes);
      const isStyle = n.type === 2 && typeof n.tagName === 'string' && n.tagName.toLowerCase() === 'style';
      if (Array.isArray(n.childNodes)) for (const c of n.childNodes) stack.push({ n: c, styleParent: isStyle });
    }
  }
}
