/**
 * Sanitising rrweb events before the Replayer sees them.
 *
 * The stream comes from a visitor's browser, so it is untrusted: a hostile page (or a
 * hand-crafted client) can send any JSON. The first line of defence is the Replayer's
 * iframe, sandboxed without `allow-scripts` (nothing in it can run script), and the
 * viewer page's CSP, which the iframe inherits. This module is the second line: it keeps
 * the replayed DOM free of script and of requests the agent's browser should not make.
 *
 * - `<script>` (HTML or SVG, any case) becomes an empty, hidden `<noscript>`.
 * - `on*` attributes, `srcdoc`, `<meta http-equiv>`, `<base href>`, iframe/object/embed
 *   sources and non-stylesheet `<link href>` are dropped.
 * - URL attributes (`href`, `src`, `srcset`, `action`, `xlink:href`, `poster`, …) and CSS
 *   (`style`, `<style>` text, stylesheet rules, `url()`, `@import`, `image-set()`) keep
 *   only http(s) URLs to public hosts, `data:` images/fonts (not for navigation) and the
 *   viewer's own origin. `javascript:`, `vbscript:`, `file:` and addresses on the agent's
 *   own network (localhost, 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, 100.64/10,
 *   IPv6 loopback/ULA/link-local, single-label and `.local`/`.internal` names) are
 *   neutralised: the browser must never be made to probe the agent's intranet.
 * - Event types the live view does not need and that can make the browser fetch
 *   (canvas mutations, fonts, assets, plugin and custom events) are dropped.
 * - Viewport sizes are clamped.
 *
 * It is DOM-free (runs in Node for unit tests) and never throws on malformed input: an
 * event it cannot make sense of is dropped.
 */

export const EventType = { DomContentLoaded: 0, Load: 1, FullSnapshot: 2, IncrementalSnapshot: 3, Meta: 4, Custom: 5, Plugin: 6, Asset: 7, Annotation: 8 } as const;
export const Source = {
  Mutation: 0, MouseMove: 1, MouseInteraction: 2, Scroll: 3, ViewportResize: 4, Input: 5, TouchMove: 6, MediaInteraction: 7,
  StyleSheetRule: 8, CanvasMutation: 9, Font: 10, Log: 11, Drag: 12, StyleDeclaration: 13, Selection: 14, AdoptedStyleSheet: 15, CustomElement: 16,
} as const;
const NodeType = { Document: 0, DocumentType: 1, Element: 2, Text: 3, CDATA: 4, Comment: 5 } as const;

/** Incremental sources the live view applies. Everything else is dropped. */
const KEPT_SOURCES = new Set<number>([
  Source.Mutation, Source.MouseMove, Source.MouseInteraction, Source.Scroll, Source.ViewportResize, Source.Input,
  Source.TouchMove, Source.MediaInteraction, Source.StyleSheetRule, Source.Drag, Source.StyleDeclaration,
  Source.Selection, Source.AdoptedStyleSheet, Source.CustomElement,
]);

export const MAX_VIEWPORT = 16384;
const INVALID_URL = 'about:invalid';

/** Attributes holding one URL that the browser may fetch or navigate to. */
const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster', 'background', 'lowsrc', 'dynsrc', 'manifest', 'codebase', 'longdesc', 'icon', 'cite', 'profile', 'usemap']);
/** Attributes holding a list of URLs. */
const SRCSET_ATTRS = new Set(['srcset', 'imagesrcset']);
/** Attributes dropped outright, on any element. */
const DROP_ATTRS = new Set(['srcdoc', 'ping', 'archive', 'classid', 'http-equiv', 'nonce', 'integrity']);
/** Elements whose own source is never loaded in the view (rrweb rebuilds same-origin iframes itself). */
const NO_SOURCE_TAGS = new Set(['iframe', 'frame', 'object', 'embed', 'applet', 'portal', 'fencedframe']);
/** Where a data: URL is acceptable: things that are only ever decoded as images, media or fonts. */
const DATA_OK_ATTRS = new Set(['src', 'poster', 'background', 'lowsrc', 'xlink:href', 'href', 'rr_dataurl']);
const DATA_OK_MIME = /^data:(image\/(png|gif|jpe?g|webp|avif|bmp|x-icon|vnd\.microsoft\.icon|svg\+xml)|font\/|application\/(font|x-font)|audio\/|video\/)/i;
const CUSTOM_ELEMENT_NAME = /^[a-z][a-z0-9._\u00b7\u00c0-\uffff]*-[a-z0-9._\u00b7\u00c0-\uffff-]*$/;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

// ---------------------------------------------------------------- addresses

function ipv4Private(h: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return (
    a === 0 || a === 10 || a === 127 || a >= 224 || // this network, private, loopback, multicast/reserved
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && Number(m[3]) === 0) ||
    (a === 198 && (b === 18 || b === 19)) // benchmarking
  );
}

function ipv6Private(h: string): boolean {
  const a = h.replace(/^\[|\]$/g, '').toLowerCase();
  if (a === '::' || a === '::1') return true;
  if (/^f[cd][0-9a-f]{0,2}:/.test(a)) return true; // unique local fc00::/7
  if (/^fe[89ab][0-9a-f]?:/.test(a)) return true; // link-local fe80::/10
  if (/^fec/.test(a) || /^fed/.test(a) || /^fee/.test(a) || /^fef/.test(a)) return true; // old site-local and reserved
  const mapped = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(a);
  if (mapped) {
    if (mapped[1]) return ipv4Private(mapped[1]);
    const hi = parseInt(mapped[2], 16), lo = parseInt(mapped[3], 16);
    return ipv4Private(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  return false;
}

/** True for host names and addresses on the agent's own machine or network. */
export function isInternalHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  if (h === '') return true;
  if (h.startsWith('[')) return ipv6Private(h);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(h)) return ipv4Private(h);
  if (!h.includes('.')) return true; // single-label names resolve through the agent's DNS search list
  return /\.(localhost|local|internal|intranet|lan|home|corp|home\.arpa|localdomain)$/.test(h);
}

export interface SanitizeOptions {
  /** Base for relative URLs: what the replay iframe (about:blank) inherits, the viewer page URL. */
  baseUrl: string;
  /** The viewer's own origin: allowed even when it is an internal address (local development). */
  selfOrigin: string;
}

/** Strips what browsers strip before parsing a URL's scheme (whitespace and control characters). */
const squash = (s: string) => s.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');

/**
 * Whether the browser may fetch or navigate to this URL from the view. `data` tells whether
 * a data: URL is acceptable here (images, media, fonts; never navigation or documents).
 */
export function safeUrl(raw: string, opts: SanitizeOptions, data = false): boolean {
  const v = squash(raw);
  if (v === '' || v.startsWith('#')) return true;
  if (/^data:/i.test(v)) return data && DATA_OK_MIME.test(v);
  let u: URL;
  try {
    u = new URL(raw.trim(), opts.baseUrl);
  } catch {
    return false;
  }
  if (u.protocol === 'about:') return u.href === 'about:blank' || u.href === INVALID_URL;
  if (u.protocol === 'mailto:' || u.protocol === 'tel:') return true; // nothing is fetched
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false; // javascript:, vbscript:, file:, blob:, ws:, ftp:, …
  if (u.origin === opts.selfOrigin) return true;
  return !isInternalHost(u.hostname);
}

// ---------------------------------------------------------------- CSS

/** Resolves CSS escapes (`\3a`, `\:`) so an escaped scheme or host cannot hide. */
function cssUnescape(s: string): string {
  return s.replace(/\\([0-9a-fA-F]{1,6})\s?|\\(.)/g, (_m, hex: string | undefined, ch: string | undefined) => {
    if (hex) {
      const cp = parseInt(hex, 16);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
    }
    return ch ?? '';
  });
}

/**
 * Neutralises unsafe URLs in CSS: `url(...)`, `@import "..."`, and any quoted string that
 * looks like an absolute or scheme-relative URL (covers `image-set("...")` and `src()`).
 * Also drops legacy script hooks (`expression(`, `-moz-binding`, `behavior:`).
 */
export function sanitizeCss(css: string, opts: SanitizeOptions): string {
  if (typeof css !== 'string') return '';
  let out = css.replace(/url\(\s*(?:"((?:[^"\\]|\\[\s\S])*)"|'((?:[^'\\]|\\[\s\S])*)'|((?:[^)\\]|\\[\s\S])*))\s*\)/gi, (m, dq?: string, sq?: string, bare?: string) => {
    const target = cssUnescape((dq ?? sq ?? bare ?? '').trim());
    return safeUrl(target, opts, true) ? m : `url("${INVALID_URL}")`;
  });
  out = out.replace(/(["'])((?:(?!\1)[^\\]|\\[\s\S])*)\1/g, (m, _q: string, body: string) => {
    const target = cssUnescape(body).trim();
    // Only strings a browser could fetch from; other strings (`content: "a: b"`) are left alone.
    if (!/^((https?|ftp|file|javascript|vbscript|data|blob|wss?|filesystem):|\/\/)/i.test(squash(target))) return m;
    return safeUrl(target, opts, true) ? m : `"${INVALID_URL}"`;
  });
  // Unescaped copy catches `e\xpression(`; only the legacy hooks are removed.
  if (/expression\s*\(|-moz-binding|behavior\s*:/i.test(cssUnescape(out))) {
    out = out.replace(/expression\s*\(|e\\[^(]*\(/gi, 'invalid(').replace(/-moz-binding\s*:[^;}]*/gi, '').replace(/behavior\s*:[^;}]*/gi, '');
  }
  return out;
}

// ---------------------------------------------------------------- nodes and attributes

function sanitizeSrcset(v: string, opts: SanitizeOptions): string | null {
  const candidates = v.split(/,(?=\s)|,$/).map((c) => c.trim()).filter(Boolean);
  for (const c of candidates) {
    const url = c.split(/\s+/)[0];
    if (!safeUrl(url, opts, true)) return null;
  }
  return v;
}

/** Sanitises one attribute; returns the value to keep, or undefined to drop it. `null` (removal in a mutation) is kept. */
function sanitizeAttr(tag: string, name: string, value: unknown, attrs: Json, opts: SanitizeOptions, mutation = false): unknown {
  const n = name.toLowerCase();
  if (value === null) return null;
  if (n.startsWith('on') || n.startsWith('_on')) return undefined;
  if (DROP_ATTRS.has(n)) return undefined;
  if (n === 'style') {
    if (typeof value === 'string') return sanitizeCss(value, opts);
    if (isObj(value)) return sanitizeStyleObject(value, opts); // a style diff in an attribute mutation
    return undefined;
  }
  if (n === '_csstext') return typeof value === 'string' ? sanitizeCss(value, opts) : undefined;
  if (typeof value !== 'string') return typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
  if (n === 'rr_dataurl') return /^data:image\//i.test(squash(value)) ? value : undefined;
  if (n.startsWith('rr_')) return value; // rrweb's own markers (sizes, media state, open mode)
  if (tag === 'base' && n === 'href') return undefined;
  if (NO_SOURCE_TAGS.has(tag) && (n === 'src' || n === 'data' || n === 'code')) return undefined;
  if (tag === 'link' && n === 'href') {
    const rel = String(attrs.rel ?? '').toLowerCase();
    // A mutation carries only the changed attributes, so rel is unknown there: URL check only.
    if (!mutation && !/\bstylesheet\b/.test(rel)) return undefined; // prefetch, preload, preconnect, dns-prefetch, import, manifest, icon
    return safeUrl(value, opts, false) ? value : undefined;
  }
  if ((tag === 'set' || tag === 'animate') && (n === 'to' || n === 'from' || n === 'values' || n === 'by')) {
    const target = String(attrs.attributeName ?? attrs.attributename ?? '').toLowerCase();
    if (target.includes('href') || target.startsWith('on') || target === 'src' || target === 'style') return undefined;
  }
  if (n === 'attributename' && tag !== 'set' && tag !== 'animate') return value;
  if (SRCSET_ATTRS.has(n)) return sanitizeSrcset(value, opts) ?? undefined;
  if (URL_ATTRS.has(n) || n.endsWith(':href')) {
    // data: is fine where only an image/media/font decoder sees it; never for navigation.
    const dataOk = DATA_OK_ATTRS.has(n) && tag !== 'a' && tag !== 'area' && tag !== 'form' && tag !== 'iframe';
    return safeUrl(value, opts, dataOk) ? value : undefined;
  }
  return value;
}

function sanitizeStyleObject(v: Json, opts: SanitizeOptions): Json {
  const out: Json = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string') out[k] = sanitizeCss(val, opts);
    else if (Array.isArray(val) && typeof val[0] === 'string') out[k] = [sanitizeCss(val[0], opts), typeof val[1] === 'string' ? val[1] : ''];
    else if (val === false) out[k] = false;
  }
  return out;
}

/** State kept across events: which text nodes are style sheet text (their mutations are CSS). */
export class EventSanitizer {
  private styleElements = new Set<number>();
  private styleTexts = new Set<number>();
  /** Tag name of every element seen since the last full snapshot, for attribute mutations. */
  private tags = new Map<number, string>();
  /** Counts of what was removed, for the debug panel and tests. */
  readonly removed = { events: 0, attributes: 0, scripts: 0 };

  constructor(private readonly opts: SanitizeOptions) {}

  reset(): void {
    this.styleElements.clear();
    this.styleTexts.clear();
    this.tags.clear();
  }

  /** Sanitises a serialized node tree in place. Returns false if the node must be dropped. */
  private node(n: unknown, parentTag: string | undefined): boolean {
    if (!isObj(n) || !num(n.id) || !num(n.type)) return false;
    switch (n.type) {
      case NodeType.Document:
      case NodeType.DocumentType:
      case NodeType.Comment:
      case NodeType.CDATA:
        break;
      case NodeType.Text:
        if (typeof n.textContent !== 'string') n.textContent = '';
        if (parentTag === 'style' || n.isStyle === true) {
          n.textContent = sanitizeCss(n.textContent as string, this.opts);
          this.styleTexts.add(n.id);
        }
        break;
      case NodeType.Element: {
        if (typeof n.tagName !== 'string') return false;
        let tag = n.tagName.toLowerCase();
        if (!/^[a-z][a-z0-9._:-]*$/i.test(tag) || tag.length > 100) return false;
        if (tag === 'script') {
          // Keep the node (later mutations may refer to its id) but make it an inert, hidden element.
          n.tagName = tag = 'noscript';
          n.isSVG = false;
          n.attributes = {};
          n.childNodes = [];
          this.removed.scripts++;
        } else {
          n.tagName = tag;
        }
        this.tags.set(n.id, tag);
        if (n.isCustom === true && !CUSTOM_ELEMENT_NAME.test(tag)) n.isCustom = false;
        const attrs = isObj(n.attributes) ? n.attributes : {};
        const clean: Json = {};
        for (const [k, v] of Object.entries(attrs)) {
          const kept = sanitizeAttr(tag, k, v, attrs, this.opts);
          if (kept === undefined || kept === null) {
            if (v !== null && v !== undefined) this.removed.attributes++;
            continue;
          }
          clean[k] = kept;
        }
        // <meta http-equiv> loses http-equiv above; its content (a refresh URL, a policy) goes too.
        if (tag === 'meta' && Object.keys(attrs).some((k) => k.toLowerCase() === 'http-equiv')) delete clean.content;
        n.attributes = clean;
        if (tag === 'style' || (tag === 'link' && typeof clean._cssText === 'string')) this.styleElements.add(n.id);
        break;
      }
      default:
        return false;
    }
    if (n.childNodes !== undefined) {
      if (!Array.isArray(n.childNodes)) n.childNodes = [];
      const tag = n.type === NodeType.Element ? (n.tagName as string) : undefined;
      n.childNodes = (n.childNodes as unknown[]).filter((c) => this.node(c, tag));
    }
    return true;
  }

  /** Sanitises one event in place; returns it, or null to drop it. */
  event(e: unknown): Json | null {
    if (!isObj(e) || !num(e.type) || !num(e.timestamp) || !isObj(e.data)) return this.drop();
    const d = e.data;
    switch (e.type) {
      case EventType.Meta:
        if (!num(d.width) || !num(d.height)) return this.drop();
        d.width = clampSize(d.width);
        d.height = clampSize(d.height);
        if (typeof d.href !== 'string') d.href = '';
        return e;
      case EventType.FullSnapshot:
        this.reset();
        if (!isObj(d.node) || !this.node(d.node, undefined)) return this.drop();
        if (!isObj(d.initialOffset) || !num(d.initialOffset.top) || !num(d.initialOffset.left)) d.initialOffset = { top: 0, left: 0 };
        return e;
      case EventType.IncrementalSnapshot:
        return this.incremental(e, d);
      default:
        return this.drop(); // load/DOMContentLoaded, custom, plugin, asset and annotation events: not needed live
    }
  }

  private incremental(e: Json, d: Json): Json | null {
    if (!num(d.source) || !KEPT_SOURCES.has(d.source)) return this.drop();
    switch (d.source) {
      case Source.Mutation: {
        const adds = Array.isArray(d.adds) ? d.adds : [];
        d.adds = adds.filter((a: unknown) => {
          if (!isObj(a) || !num(a.parentId)) return false;
          const parentTag = this.styleElements.has(a.parentId) ? 'style' : undefined;
          return this.node(a.node, parentTag);
        });
        d.removes = (Array.isArray(d.removes) ? d.removes : []).filter((r: unknown) => isObj(r) && num(r.id) && num(r.parentId));
        d.texts = (Array.isArray(d.texts) ? d.texts : []).filter((t: unknown) => {
          if (!isObj(t) || !num(t.id)) return false;
          if (t.value !== null && typeof t.value !== 'string') return false;
          if (typeof t.value === 'string' && this.styleTexts.has(t.id)) t.value = sanitizeCss(t.value, this.opts);
          return true;
        });
        d.attributes = (Array.isArray(d.attributes) ? d.attributes : []).filter((a: unknown) => {
          if (!isObj(a) || !num(a.id) || !isObj(a.attributes)) return false;
          const clean: Json = {};
          const tag = this.tags.get(a.id) ?? '';
          for (const [k, v] of Object.entries(a.attributes)) {
            const kept = sanitizeAttr(tag, k, v, a.attributes, this.opts, true);
            if (kept === undefined) this.removed.attributes++;
            else clean[k] = kept;
          }
          a.attributes = clean;
          return true;
        });
        return e;
      }
      case Source.ViewportResize:
        if (!num(d.width) || !num(d.height)) return this.drop();
        d.width = clampSize(d.width);
        d.height = clampSize(d.height);
        return e;
      case Source.StyleSheetRule: {
        if (Array.isArray(d.adds)) {
          d.adds = d.adds.filter((a: unknown) => isObj(a) && typeof a.rule === 'string');
          for (const a of d.adds as Json[]) a.rule = sanitizeCss(a.rule as string, this.opts);
        }
        if (typeof d.replace === 'string') d.replace = sanitizeCss(d.replace, this.opts);
        if (typeof d.replaceSync === 'string') d.replaceSync = sanitizeCss(d.replaceSync, this.opts);
        return e;
      }
      case Source.StyleDeclaration:
        if (isObj(d.set) && typeof d.set.value === 'string') d.set.value = sanitizeCss(d.set.value, this.opts);
        return e;
      case Source.AdoptedStyleSheet:
        if (Array.isArray(d.styles)) {
          for (const s of d.styles as unknown[]) {
            if (!isObj(s) || !Array.isArray(s.rules)) continue;
            s.rules = (s.rules as unknown[]).filter((r) => isObj(r) && typeof r.rule === 'string');
            for (const r of s.rules as Json[]) r.rule = sanitizeCss(r.rule as string, this.opts);
          }
        }
        return e;
      case Source.CustomElement:
        if (isObj(d.define) && (typeof d.define.name !== 'string' || !CUSTOM_ELEMENT_NAME.test(d.define.name))) return this.drop();
        return e;
      default:
        return e;
    }
  }

  private drop(): null {
    this.removed.events++;
    return null;
  }
}

function clampSize(v: number): number {
  return Math.max(1, Math.min(MAX_VIEWPORT, Math.round(v)));
}
