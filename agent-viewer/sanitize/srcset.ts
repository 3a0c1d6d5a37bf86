/**
 * `srcset` parsed by the HTML spec's candidate rules, so that `a.png 1x,http://x/b.png 2x`
 * (no space after the comma) is two candidates, as the browser sees it. Only candidates whose
 * URL is allowed are kept, re-serialised canonically.
 */
import { urlAllowed, type UrlPolicy } from './urlPolicy.ts';

export interface SrcsetCandidate { url: string; descriptor: string }

const WS = /[\t\n\f\r ]/;

export function parseSrcset(s: string): SrcsetCandidate[] {
  const out: SrcsetCandidate[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (WS.test(s[i]) || s[i] === ',')) i++;
    if (i >= s.length) break;
    const start = i;
    while (i < s.length && !WS.test(s[i])) i++;
    let url = s.slice(start, i);
    let descriptor = '';
    if (url.endsWith(',')) {
      url = url.replace(/,+$/, '');
    } else {
      // Descriptors run to the next comma outside parentheses.
      const dStart = i;
      let inParens = false;
      while (i < s.length) {
        const c = s[i];
        if (c === '(') inParens = true;
        else if (c === ')') inParens = false;
        else if (c === ',' && !inParens) break;
        i++;
      }
      descriptor = s.slice(dStart, i).trim();
      i++; // the comma
    }
    if (url) out.push({ url, descriptor });
  }
  return out;
}

const DESCRIPTOR = /^(\d+(\.\d+)?([eE][+-]?\d+)?[wxh])?$/;

/** The allowed candidates, or null when none is left. */
export function sanitizeSrcset(v: string, policy: UrlPolicy): string | null {
  const kept = parseSrcset(v).filter((c) => DESCRIPTOR.test(c.descriptor) && urlAllowed(c.url, policy, 'resource'));
  return kept.length ? kept.map((c) => (c.descriptor ? `${c.url} ${c.descriptor}` : c.url)).join(', ') : null;
}
