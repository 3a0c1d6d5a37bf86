/**
 * Embed options: attributes on the script tag, or `Cobrowse.configure({...})` queued before the
 * script loads. Unknown keys are ignored; invalid selectors are dropped (and reported), never thrown.
 */
export interface EmbedOptions {
  /** Always ask the visitor, even if the account turned consent off. The account's requirement cannot be lowered here. */
  requireConsent: boolean;
  /** Extra CSS selectors whose text is masked. */
  mask: string;
  /** Extra CSS selectors serialised as an empty same-size box. */
  block: string;
  /** Fields whose values agents may see (besides `[data-cobrowse-unmask]`); never passwords, cards or hidden inputs. */
  unmask: string;
  /** Agents may ask for control (click, scroll, type). */
  allowControl: boolean;
  /** Keyboard shortcut that shows the lookup code, e.g. "ctrl+shift+y"; off when empty. */
  shortcut: string;
  /** Send the URL's query and fragment in `page` metadata; off by default (they often carry tokens). */
  keepUrlQuery: boolean;
  /** `required`: share only end-to-end encrypted, whatever the account says (it can only raise this). */
  e2e: 'required' | 'off';
  /** The customer's pinned agent-key-token verification key, `ES256:<base64 SPKI>` or `RS256:…`; implies e2e required. Set once. */
  agentKey: string;
}

export const DEFAULT_OPTIONS: EmbedOptions = { requireConsent: false, mask: '', block: '', unmask: '', allowControl: true, shortcut: '', keepUrlQuery: false, e2e: 'off', agentKey: '' };

function bool(v: unknown, fallback: boolean): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '') return true;
  if (v === 'false') return false;
  return fallback;
}

/** Joins selectors that parse; returns the ones that did not. */
function selectors(v: unknown): { ok: string; bad: string[] } {
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [];
  const ok: string[] = [];
  const bad: string[] = [];
  for (const raw of list) {
    const s = String(raw).trim();
    if (!s) continue;
    try {
      document.createDocumentFragment().querySelector(s);
      ok.push(s);
    } catch {
      bad.push(s);
    }
  }
  return { ok: ok.join(', '), bad };
}

export function mergeOptions(base: EmbedOptions, input: Record<string, unknown>, report: (bad: string) => void): EmbedOptions {
  const out = { ...base };
  if ('requireConsent' in input) out.requireConsent = bool(input.requireConsent, out.requireConsent);
  if ('allowControl' in input) out.allowControl = bool(input.allowControl, out.allowControl);
  if ('keepUrlQuery' in input) out.keepUrlQuery = bool(input.keepUrlQuery, out.keepUrlQuery);
  if (typeof input.shortcut === 'string') out.shortcut = input.shortcut.trim().toLowerCase();
  if (input.e2e === 'required') out.e2e = 'required';
  if (typeof input.agentKey === 'string' && !out.agentKey) out.agentKey = input.agentKey.trim();
  for (const key of ['mask', 'block', 'unmask'] as const) {
    if (!(key in input)) continue;
    const { ok, bad } = selectors(input[key]);
    bad.forEach(report);
    out[key] = [out[key], ok].filter(Boolean).join(', ');
  }
  return out;
}

/** `data-require-consent`, `data-mask`, `data-block`, `data-unmask`, `data-allow-control`, `data-shortcut`, `data-url-query="keep"`, `data-e2e="required"`, `data-agent-key`. */
export function optionsFromScript(script: HTMLScriptElement, report: (bad: string) => void): EmbedOptions {
  const d = script.dataset;
  const input: Record<string, unknown> = {};
  if (d.requireConsent !== undefined) input.requireConsent = d.requireConsent;
  if (d.allowControl !== undefined) input.allowControl = d.allowControl;
  if (d.mask !== undefined) input.mask = d.mask;
  if (d.block !== undefined) input.block = d.block;
  if (d.unmask !== undefined) input.unmask = d.unmask;
  if (d.shortcut !== undefined) input.shortcut = d.shortcut;
  if (d.urlQuery !== undefined) input.keepUrlQuery = d.urlQuery === 'keep';
  if (d.e2e !== undefined) input.e2e = d.e2e;
  if (d.agentKey !== undefined) input.agentKey = d.agentKey;
  return mergeOptions(DEFAULT_OPTIONS, input, report);
}

/** "ctrl+shift+y" against a keydown. */
export function matchesShortcut(shortcut: string, e: KeyboardEvent): boolean {
  if (!shortcut) return false;
  const parts = shortcut.split('+').map((p) => p.trim());
  const key = parts.pop();
  if (!key || e.key.toLowerCase() !== key) return false;
  return e.ctrlKey === parts.includes('ctrl') && e.shiftKey === parts.includes('shift') && e.altKey === parts.includes('alt') && e.metaKey === parts.includes('meta');
}
