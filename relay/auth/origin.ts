/** Origin allow-lists: exact origins and wildcard subdomains (`https://*.example.com`). */

/** Normalises an allow-list entry; throws on anything that is not an origin. */
export function normaliseOriginPattern(pattern: string): string {
  const wildcard = /^(https?):\/\/\*\.([^/:*]+)(:\d+)?$/.exec(pattern);
  if (wildcard) return `${wildcard[1]}://*.${wildcard[2].toLowerCase()}${wildcard[3] ?? ''}`;
  let url: URL;
  try {
    url = new URL(pattern);
  } catch {
    throw new Error(`not an origin: ${JSON.stringify(pattern)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== pattern.replace(/\/$/, '').toLowerCase()) {
    throw new Error(`not an origin (scheme://host[:port], no path): ${JSON.stringify(pattern)}`);
  }
  return url.origin;
}

export function originAllowed(origin: string | undefined, patterns: readonly string[]): boolean {
  if (!origin) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.origin !== origin) return false; // must be a bare origin, as browsers send it
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
