/**
 * Which agents the visitor agreed to share this tab with, and until when. Kept in a store
 * (sessionStorage in the page) so a reload, a navigation or a relay restart does not ask again;
 * an agreement lapses CONSENT_MEMORY_MS after its agent stops watching. No DOM: tested in node.
 */

/** Where the memory survives page loads; never throws (client/storage.ts). */
export interface ConsentStore {
  load(): string | null;
  save(value: string): void;
}

/** How long an agreement outlives the agent's watching (reconnects, relay restarts, reloads). */
export const CONSENT_MEMORY_MS = 5 * 60_000;

export class ConsentMemory {
  /** Agent id → when the agreement lapses (ms since the epoch). */
  readonly #until = new Map<string, number>();
  /**
   * Agent id → the end-to-end key of the viewer the visitor agreed to ('' for a viewer without one).
   * One key per agent id: an agreement covers that key only, and a different key means a new prompt
   * with the new verification code (stored as `[until, key]`; a bare number is a keyless agreement).
   */
  readonly #key = new Map<string, string>();

  readonly #store: ConsentStore;
  /** Whether the agent watches now: an agreement does not lapse while it does. */
  readonly #watching: (agentId: string) => boolean;
  readonly #now: () => number;

  constructor(store: ConsentStore, watching: (agentId: string) => boolean, now: () => number = Date.now) {
    this.#store = store;
    this.#watching = watching;
    this.#now = now;
    try {
      for (const [id, v] of Object.entries(JSON.parse(store.load() ?? '{}'))) {
        if (typeof v === 'number') this.#set(id, v, '');
        else if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') this.#set(id, v[0], v[1]);
      }
    } catch {
      /* unreadable: ask again */
    }
  }

  /** The visitor agreed to this agent with this viewer key, and it has not lapsed (or the agent is still watching). */
  allows(agentId: string, agentKey = ''): boolean {
    return this.keyFor(agentId) === agentKey;
  }

  /** The viewer key of the live agreement with this agent ('' for a keyless viewer), or undefined when there is none. */
  keyFor(agentId: string): string | undefined {
    const live = (this.#until.get(agentId) ?? 0) > this.#now() || (this.#watching(agentId) && this.#until.has(agentId));
    return live ? this.#key.get(agentId) ?? '' : undefined;
  }

  /** (Re)starts the agreement's lapse clock for this agent, for this viewer key (replacing any other). */
  remember(agentId: string, agentKey = ''): void {
    this.#set(agentId, this.#now() + CONSENT_MEMORY_MS, agentKey);
    this.#persist();
  }

  /** Restarts the clock only for an agent the visitor had agreed to (it stopped watching); the key stays. */
  refresh(agentId: string): void {
    if (this.#until.has(agentId)) this.remember(agentId, this.#key.get(agentId) ?? '');
  }

  /** The agent ended the session: coming back needs the visitor's yes again. */
  forget(agentId: string): void {
    this.#until.delete(agentId);
    this.#key.delete(agentId);
    this.#persist();
  }

  /** The visitor stopped sharing: every agreement ends at once. */
  clear(): void {
    this.#until.clear();
    this.#key.clear();
    this.#persist();
  }

  #persist(): void {
    const now = this.#now();
    for (const [id, until] of this.#until) {
      if (until <= now && !this.#watching(id)) {
        this.#until.delete(id);
        this.#key.delete(id);
      }
    }
    const out: Record<string, number | [number, string]> = {};
    for (const [id, until] of this.#until) {
      const key = this.#key.get(id) ?? '';
      out[id] = key ? [until, key] : until;
    }
    this.#store.save(JSON.stringify(out));
  }

  #set(agentId: string, until: number, agentKey: string): void {
    this.#until.set(agentId, until);
    if (agentKey) this.#key.set(agentId, agentKey);
    else this.#key.delete(agentId);
  }
}
