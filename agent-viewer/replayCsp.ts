/**
 * The replay document's own Content-Security-Policy, per account: images, fonts, media and
 * style sheets only from the account's page origins (plus data: and blob:), nothing else.
 *
 * How it is enforced (proved in test/e2e/browser-viewer/hostile.test.ts): the Replayer's iframe is an
 * about:blank document; before any event is applied, the player puts a
 * `<meta http-equiv="Content-Security-Policy">` into it. Chromium keeps a policy once applied,
 * through rrweb's `document.open()` and into nested about:blank frames, and a policy can only be
 * tightened, so nothing in the stream (its own `<meta>` is removed anyway) can loosen it. The
 * viewer page's own policy (index.html) still applies too: the effective policy is both.
 */
import { parseOriginPatterns } from './sanitize/index.ts';

export function replayCsp(pageOrigins: readonly string[]): string {
  const sources = ["data:", "blob:", ...parseOriginPatterns(pageOrigins)].join(' ');
  return [
    "default-src 'none'",
    `img-src ${sources}`,
    `font-src ${sources}`,
    `media-src ${sources}`,
    // 'unsafe-inline': the page's styles are rebuilt as <style> text and style attributes.
    `style-src 'unsafe-inline' ${parseOriginPatterns(pageOrigins).join(' ')}`.trim(),
    "script-src 'none'",
    "connect-src 'none'",
    "frame-src 'none'",
    "child-src 'none'",
    "worker-src 'none'",
    "manifest-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** Puts the policy into the (still empty) replay document; throws if it cannot, so nothing is played unprotected. */
export function installReplayCsp(iframe: HTMLIFrameElement, policy: string): void {
  const doc = iframe.contentDocument;
  if (!doc) throw new Error('the replay iframe has no document; refusing to play');
  let head = doc.head;
  if (!head) {
    head = doc.createElement('head');
    (doc.documentElement ?? doc.appendChild(doc.createElement('html'))).prepend(head);
  }
  const meta = doc.createElement('meta');
  meta.httpEquiv = 'Content-Security-Policy';
  meta.content = policy;
  head.prepend(meta);
  if (meta.parentNode !== head || !doc.contains(meta)) throw new Error('could not install the replay CSP; refusing to play');
}
