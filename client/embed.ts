/**
 * The embed script. One tag on the customer's page:
 *   <script src="https://<relay>/embed.js" data-key="<publicKey>" async></script>
 * and, optionally, the stub (docs/embed.md) so `Cobrowse.*` calls made before it loads are queued.
 * Its only global is `window.Cobrowse`. Nothing is captured or sent until the visitor shares.
 */
import { EMAIL_MAX_CHARS, IDENTIFY_MAX_CHARS } from '../protocol/control.ts';
import { MISSING_KEY } from '../protocol/errors.ts';
import { Emitter } from './emitter.ts';
import { mergeOptions, optionsFromScript } from './options.ts';
import { Session, type Identity } from './session.ts';

type Queued = [string, unknown[]];
interface Stub { q?: Queued[] }

export const EMBED_VERSION = '1';

(function boot() {
  const w = window as unknown as { Cobrowse?: Stub & Record<string, unknown> };
  if (w.Cobrowse && (w.Cobrowse as { version?: string }).version) return; // loaded twice: keep the first
  const script = (document.currentScript ?? document.querySelector('script[src*="/embed.js"][data-key]')) as HTMLScriptElement | null;
  const key = script?.dataset.key;
  const queued: Queued[] = Array.isArray(w.Cobrowse?.q) ? w.Cobrowse!.q! : [];
  const events = new Emitter();
  const report = (bad: string) => events.emit('error', { code: 'bad_option', message: `ignored invalid selector ${JSON.stringify(bad).slice(0, 80)}` });

  let options = script ? optionsFromScript(script, report) : undefined;
  let session: Session | undefined;

  const api = {
    version: EMBED_VERSION,
    identify(who: Identity) {
      const clean: Identity = {};
      for (const k of ['userId', 'name', 'email'] as const) if (typeof who?.[k] === 'string' && who[k]) clean[k] = who[k]!.slice(0, k === 'email' ? EMAIL_MAX_CHARS : IDENTIFY_MAX_CHARS);
      session?.identify(clean);
    },
    showCode() {
      session?.showCode();
    },
    stop() {
      session?.stop();
    },
    forget() {
      session?.forget();
    },
    on(event: string, fn: (detail: unknown) => void) {
      return events.on(event, fn);
    },
    /** Options before the session starts (from the stub queue); later calls change nothing. */
    configure(input: Record<string, unknown>) {
      if (options && !session && input && typeof input === 'object') options = mergeOptions(options, input, report);
    },
  };
  w.Cobrowse = api as unknown as Stub & Record<string, unknown>;

  // Replay the stub's queue: configure and on first, so they apply from the very start.
  const early = queued.filter(([m]) => m === 'configure' || m === 'on');
  const late = queued.filter(([m]) => m !== 'configure' && m !== 'on');
  const call = ([m, args]: Queued) => {
    const fn = (api as Record<string, unknown>)[m];
    if (typeof fn === 'function') {
      try {
        (fn as (...a: unknown[]) => void).apply(api, Array.isArray(args) ? args : []);
      } catch {
        /* a bad queued call changes nothing */
      }
    }
  };
  early.forEach(call);

  if (!script || !key || !options) {
    events.emit('error', { code: MISSING_KEY, message: 'the embed script tag needs data-key="<public key>"' });
    return;
  }
  let relay: URL;
  try {
    relay = new URL(script.src);
  } catch {
    return;
  }
  session = new Session(relay, key, options, events);
  late.forEach(call);
  session.start();
})();
