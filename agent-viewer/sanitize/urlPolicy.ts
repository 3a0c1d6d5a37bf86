/**
 * Which URLs the replayed page may make the agent's browser fetch: the account's page origins
 * (exact, or `https://*.example.com` subdomains, as the relay stores them), plus `data:` and
 * `blob:` for resources. Everything else (other hosts, the relay itself, internal addresses,
 * `javascript:`, `file:`, …) is refused. The same list builds the replay document's CSP
 * (replayCsp.ts), so the sanitiser and the browser enforce one rule.
 */

/** How a URL will be used, which decides whether `data:`/`blob:`/`#fragment` are acceptable. */
export type UrlUse =
  /** Decoded as image, media or font (img src, srcset, poster). */
  | 'resource'
  /** A URL in CSS (url(), image-set()): a resource, or a fragment (SVG paint servers, filters, masks). */
  | 'css'
  /** A style sheet the browser would fetch and apply unsanitised (@import, link href): origins only. */
  | 'stylesheet'
  /** A navigation target (a/area href): origins or a fragment. Never data:. */
  | 'link'
  /** An SVG reference (use, gradients, textPath, filter href): a fragment or an allowed origin. */
  | 'reference';

export interface UrlPolicy {
  /** Base for relative URLs: the replay iframe (about:blank) inherits the viewer page's URL. */
  baseUrl: string;
  /** Validated origin patterns (see parseOriginPatterns). */
  pageOrigins: readonly string[];
}

/** `http(s)://host[:port]` or `http(s)://*.host[:port]`: nothing that could break out of a CSP source list. */
const ORIGIN_PATTERN = /^https?:\/\/(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/;
const MAX_ORIGINS = 100;

/** Keeps only well-formed origin patterns from untrusted input (the relay's `ready` message). */
export function parseOriginPatterns(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.filter((p): p is string => typeof p === 'string' && p.length <= 300 && ORIGIN_PATTERN.test(p)).slice(0, MAX_ORIGINS);
}

/** Same rule as relay/auth/origin.ts: exact origin, or a subdomain of a `*.` pattern with the same scheme and port. */
export function originAllowed(u: URL, patterns: readonly string[]): boolean {
  for (const p of patterns) {
    if (p === u.origin) return true;
    const star = p.indexOf('://*.');
    if (star === -1) continue;
    const scheme = p.slice(0, star);
    const [suffixHost, suffixPort = ''] = p.slice(star + 5).split(':');
    if (u.protocol === `${scheme}:` && u.port === suffixPort && u.hostname.endsWith(`.${suffixHost}`)) return true;
  }
  return false;
}

/** Data URLs only ever decoded as images, fonts or media (never documents, style sheets or script). */
const DATA_RESOURCE = /^data:(image\/[a-z0-9.+-]+|font\/[a-z0-9.+-]+|application\/(x-)?font[a-z0-9.+-]*|audio\/[a-z0-9.+-]+|video\/[a-z0-9.+-]+)[;,]/i;

/** What browsers strip before parsing a URL's scheme (whitespace and control characters). */
const squash = (s: string) => s.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');

export function urlAllowed(raw: string, policy: UrlPolicy, use: UrlUse): boolean {
  if (typeof raw !== 'string') return false;
  const v = squash(raw);
  if (v === '') return false;
  if (v.startsWith('#')) return use === 'link' || use === 'reference' || use === 'css';
  const resource = use === 'resource' || use === 'css';
  if (/^data:/i.test(v)) return resource && DATA_RESOURCE.test(v);
  if (/^blob:/i.test(v)) return resource;
  let u: URL;
  try {
    u = new URL(raw.trim(), policy.baseUrl);
  } catch {
    return false;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  if (u.username || u.password) return false;
  return originAllowed(u, policy.pageOrigins);
}
