/** `Cobrowse.on(event, fn)`: the page's hooks into the session. A throwing handler never breaks us. */
export type EmbedEvent = 'ready' | 'consent' | 'sharing' | 'control' | 'control-refused' | 'code' | 'stopped' | 'disconnected' | 'error' | 'e2e-refused';
export const EMBED_EVENTS: ReadonlySet<string> = new Set<EmbedEvent>(['ready', 'consent', 'sharing', 'control', 'control-refused', 'code', 'stopped', 'disconnected', 'error', 'e2e-refused']);

type Handler = (detail: unknown) => void;

export class Emitter {
  private handlers = new Map<string, Set<Handler>>();

  on(event: string, fn: unknown): () => void {
    if (!EMBED_EVENTS.has(event) || typeof fn !== 'function') return () => {};
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(fn as Handler);
    return () => set!.delete(fn as Handler);
  }

  emit(event: EmbedEvent, detail: unknown = {}): void {
    for (const fn of this.handlers.get(event) ?? []) {
      try {
        fn(detail);
      } catch {
        /* the page's handler failed; the session carries on */
      }
    }
  }
}
