/**
 * One attribute of one element: kept as is, rewritten, or dropped (undefined). An allow-list
 * (allowList.ts); URL attributes are checked per element (urlPolicy.ts), `style` and every value
 * that could be CSS (SVG presentation attributes such as `fill`, `mask`, `filter`, `cursor`, which
 * take `url()`) go through the CSS sanitiser.
 */
import { isDataOrAria, localName, PLAIN_ATTRIBUTES, RRWEB_ATTRIBUTES, TEXT_ATTRIBUTES } from './allowList.ts';
import { sanitizeCss } from './css.ts';
import { sanitizeSrcset } from './srcset.ts';
import { urlAllowed, type UrlPolicy, type UrlUse } from './urlPolicy.ts';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Elements whose `src` is an image/media resource; `src` anywhere else (iframe, embed, script) is dropped. */
const SRC_ELEMENTS = new Set(['img', 'source', 'video', 'audio', 'track', 'input']);
/** `href` → how it is used, per element (SVG and HTML share `a`). */
const HREF_USE: Record<string, UrlUse> = {
  a: 'link', area: 'link', link: 'stylesheet',
  image: 'resource', feimage: 'resource',
  use: 'reference', pattern: 'reference', lineargradient: 'reference', radialgradient: 'reference', textpath: 'reference', filter: 'reference',
};
const BACKGROUND_ELEMENTS = new Set(['body', 'table', 'td', 'th', 'tr', 'thead', 'tbody', 'tfoot']);
/** `<link rel>` may only say stylesheet: prefetch, preload, preconnect, dns-prefetch, import, manifest… are dropped. */
const LINK_RELS = new Set(['stylesheet', 'alternate']);

export interface ElementInfo {
  /** Normalised local name (allowList.localName). */
  tag: string;
}

/** `value` as it should be kept, or undefined to drop the attribute. `null` (a removal in a mutation) is kept. */
export function sanitizeAttribute(el: ElementInfo, name: string, value: unknown, policy: UrlPolicy): unknown {
  if (typeof name !== 'string' || !/^[A-Za-z_][\w.:-]*$/.test(name) || name.length > 200) return undefined;
  const n = localName(name);
  if (value === null) return null;
  if (n === 'style') {
    if (typeof value === 'string') return sanitizeCss(value, policy);
    if (isObj(value)) return sanitizeStyleObject(value, policy); // a style diff in an attribute mutation
    return undefined;
  }
  if (n === '_csstext') return typeof value === 'string' ? sanitizeCss(value, policy) : undefined;
  if (typeof value === 'boolean' || typeof value === 'number') return allowedName(n) || n === 'rr_dataurl' ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const url = urlAttribute(el.tag, n, value, policy);
  if (url !== NOT_A_URL_ATTRIBUTE) return url;
  if (n === 'rel') {
    if (el.tag !== 'link') return value;
    const rels = value.toLowerCase().split(/\s+/).filter(Boolean);
    return rels.every((r) => LINK_RELS.has(r)) ? value : undefined;
  }
  if (n === 'name' && el.tag === 'meta' && value.trim().toLowerCase() === 'referrer') return undefined; // would loosen the referrer policy
  if (!allowedName(n)) return undefined;
  // Presentation attributes are CSS (`fill="\75 rl(…)"`); only a '(' can start a url or function.
  if (!TEXT_ATTRIBUTES.has(n) && value.includes('(')) return sanitizeCss(value, policy);
  return value;
}

const allowedName = (n: string) => PLAIN_ATTRIBUTES.has(n) || RRWEB_ATTRIBUTES.has(n) || isDataOrAria(n) || n === 'rel' || n === 'usemap';

const NOT_A_URL_ATTRIBUTE = Symbol('not a URL attribute');

function urlAttribute(tag: string, n: string, v: string, policy: UrlPolicy): unknown {
  switch (n) {
    case 'href': {
      const use = HREF_USE[tag];
      if (!use) return undefined; // base, and href on anything else
      if (urlAllowed(v, policy, use)) return v;
      return use === 'link' ? '#' : undefined; // keeps the link's look, goes nowhere
    }
    case 'src':
      return SRC_ELEMENTS.has(tag) && urlAllowed(v, policy, 'resource') ? v : undefined;
    case 'srcset':
      return tag === 'img' || tag === 'source' ? (sanitizeSrcset(v, policy) ?? undefined) : undefined;
    case 'poster':
      return tag === 'video' && urlAllowed(v, policy, 'resource') ? v : undefined;
    case 'background':
      return BACKGROUND_ELEMENTS.has(tag) && urlAllowed(v, policy, 'resource') ? v : undefined;
    case 'usemap':
      return v.trim().startsWith('#') ? v : undefined;
    case 'rr_dataurl':
      // rrweb draws it into a canvas or swaps it in for an img: images only.
      return /^data:image\/[a-z0-9.+-]+[;,]/i.test(v.trim()) ? v : undefined;
    default:
      return NOT_A_URL_ATTRIBUTE;
  }
}

function sanitizeStyleObject(v: Json, policy: UrlPolicy): Json {
  const out: Json = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string') out[k] = sanitizeCss(val, policy);
    else if (Array.isArray(val) && typeof val[0] === 'string') out[k] = [sanitizeCss(val[0], policy), typeof val[1] === 'string' ? val[1] : ''];
    else if (val === false) out[k] = false;
  }
  return out;
}
