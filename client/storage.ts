/** localStorage / sessionStorage that never throw (private modes, sandboxed frames, full quota). */
type Area = 'local' | 'session';

function area(which: Area): Storage | undefined {
  try {
    return which === 'local' ? window.localStorage : window.sessionStorage;
  } catch {
    return undefined;
  }
}

export function load(which: Area, key: string): string | null {
  try {
    return area(which)?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

export function save(which: Area, key: string, value: string): void {
  try {
    area(which)?.setItem(key, value);
  } catch {
    /* storage unavailable: the visitor simply gets a new id next time */
  }
}

export function remove(which: Area, key: string): void {
  try {
    area(which)?.removeItem(key);
  } catch {
    /* nothing stored */
  }
}

export const KEYS = {
  visitorId: 'cobrowse.vid',
  visitorToken: 'cobrowse.vt',
  tabId: 'cobrowse.tab',
  /** `forget()` was called and not yet confirmed (4004): sent again on every reconnect until it is. */
  forgetPending: 'cobrowse.forget',
  /** Agents this tab agreed to share with: a relay restart does not ask the visitor again. */
  consented: 'cobrowse.consented',
} as const;
