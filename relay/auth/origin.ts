/** Origin allow-lists: exact origins and wildcard subdomains (`https://*.example.com`). */

/** Normalises an allow-list entry; throws on anything that is not an origin. */
export function normaliseOriginPattern(pattern: string): string {
  const wildcard = /^(https?):\/\/\*\.([^/:*?#@\s]+)(:\d+)?$/i.exec(pattern);
  if (wildcard) {
    // Let the URL parser check the host and port: it rejects garbage, puts IDNs in the
    // punycode form browsers send, and drops a default port (which browsers never send).
    let probe: URL | undefined;
    try {
      probe = new URL(`${wildcard[1]}://x.${wildcard[2]}${wildcard[3] ?? ''}`);
    } catch {
      // below
    }
    if (!probe || !probe.hostname.startsWith('x.') || probe.hostname.length < 3) {
      throw new Error(`not an origin pattern: ${JSON.stringify(pattern)}`);
    }
    return `${probe.protocol}//*.${probe.host.slice(2)}`;
  }
  let url: URL;
  try {
    url = new URL(pattern);
  } catch {
    throw new Error(`not an origin: ${JSON.stringify(pattern)}`);
  }
  const bare = pattern.replace(/\/$/, '').toLowerCase().replace(url.protocol === 'https:' ? /:443$/ : /:80$/, '');
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname.includes('*') || url.origin !== bare) {
    throw new Error(`not an origin (scheme://host[:port], no path): ${JSON.stringify(pattern)}`);
  }
  return url.origin;
}

/** What the checks need of an Origin header that is a bare origin. */
interface OriginParts {
  protocol: string;
  hostname: string;
  port: string;
}

/**
 * Origin headers parsed lately (null: not a bare origin). A relay sees few distinct ones (its
 * customers' sites), and the URL parser was a visible part of a visitor connect. Bounded: cleared
 * when full, and a long header is never kept.
 */
const parsedOrigins = new Map<string, OriginParts | null>();
const MAX_PARSED_ORIGINS = 1000;
const MAX_CACHED_ORIGIN_CHARS = 256;

function parseOrigin(origin: string): OriginParts | null {
  let parts = parsedOrigins.get(origin);
  if (parts !== undefined) return parts;
  try {
    const url = new URL(origin);
    parts = url.origin === origin ? { protocol: url.protocol, hostname: url.hostname, port: url.port } : null; // must be a bare origin, as browsers send it
  } catch {
    parts = null;
  }
  if (origin.length <= MAX_CACHED_ORIGIN_CHARS) {
    if (parsedOrigins.size >= MAX_PARSED_ORIGINS) parsedOrigins.clear();
    parsedOrigins.set(origin, parts);
  }
  return parts;
}

export function originAllowed(origin: string | undefined, patterns: readonly string[]): boolean {
  if (!origin) return false;
  const url = parseOrigin(origin);
  if (!url) return false;
  for (const p of patterns) {
    if (p === origin) return true;
    const star = p.indexOf('://*.');
    if (star !== -1) {
      const scheme = p.slice(0, star);
      const rest = p.slice(star + 5); // "example.com" or "example.com:8443"
      const [suffixHost, suffixPort = ''] = rest.split(':');
      if (url.protocol !== `${scheme}:` || url.port !== suffixPort) continue;
      if (url.hostname.endsWith(`.${suffixHost}`)) return true;
    }
  }
  return false;
}
