/**
 * One shared, never-written empty Set for per-visitor state that most visitors never use (an idle,
 * unwatched visitor has no agents, consents, followers, ...): an empty Set costs ~160 bytes of heap,
 * and an idle visitor had six. Reads (has, size, iteration, delete) work on it as on any empty set;
 * the first write replaces it with the visitor's own Set through `addTo`. Writing to it directly
 * throws, so a missed call site fails loudly instead of sharing state between visitors.
 */
class SharedEmptySet<T> extends Set<T> {
  override add(): this {
    throw new Error('shared empty set: add through addTo()');
  }
}

const EMPTY: Set<never> = new SharedEmptySet<never>();

export function emptySet<T>(): Set<T> {
  return EMPTY as Set<T>;
}

/** Adds `value` to `set`; when that is the shared empty set, a new Set is made and handed to `own` first. */
export function addTo<T>(set: Set<T>, value: T, own: (fresh: Set<T>) => void): void {
  if (set === EMPTY) {
    set = new Set<T>();
    own(set);
  }
  set.add(value);
}
