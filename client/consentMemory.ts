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

  readonly #store: ConsentStore;
  /** Whether the agent watches now: an agreement does not lapse while it does. */
  readonly #watching: (agentId: string) => boolean;
  readonly #now: () => number;

  constructor(store: ConsentStore, watching: (agentId: string) => boolean, now: () => number = Date.now) {
    this.#store = store;
    this.#watching = watching;
    this.#now = now;
    try {
      for (const [id, until] of Object.entries(JSON.parse(store.load() ?? '{}'))) if (typeof until === 'number') this.#until.set(id, until);
    } catch {
      /* unreadable: ask again */
    }
  }

  /** The visitor agreed and it has not lapsed (or the agent is still watching). */
  allows(agentId: string): boolean {
    return (this.#until.get(agentId) ?? 0) > this.#now() || (this.#watching(agentId) && this.#until.has(agentId));
  }

  /** (Re)starts the agreement's lapse clock for this agent. */
  remember(agentId: string): void {
    this.#until.set(agentId, this.#now() + CONSENT_MEMORY_MS);
    this.#persist();
  }

  /** Restarts the clock only for an agent the visitor had agreed to (it stopped watching). */
  refresh(agentId: string): void {
    if (this.#until.has(agentId)) this.remember(agentId);
  }

  /** The agent ended the session: coming back needs the visitor's yes again. */
  forget(agentId: string): void {
    this.#until.delete(agentId);
    this.#persist();
  }

  /** The visitor stopped sharing: every agreement ends at once. */
  clear(): void {
    this.#until.clear();
    this.#persist();
  }

  #persist(): void {
    const now = this.#now();
    for (const [id, until] of this.#until) if (until <= now && !this.#watching(id)) this.#until.delete(id);
    this.#store.save(JSON.stringify(Object.fromEntries(this.#until)));
  }
}
