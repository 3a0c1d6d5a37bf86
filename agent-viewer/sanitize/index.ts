/** The viewer's sanitiser for untrusted rrweb events: see events.ts, and docs/agent-viewer.md "Security". */
export { EventSanitizer, EventType, MAX_VIEWPORT, Source } from './events.ts';
export { sanitizeCss } from './css.ts';
export { parseSrcset, sanitizeSrcset } from './srcset.ts';
export { parseOriginPatterns, urlAllowed, type UrlPolicy, type UrlUse } from './urlPolicy.ts';
