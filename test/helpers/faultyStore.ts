/**
 * The real SQLite store behind a switch: metadata writes can be made to fail or to stall,
 * to test outages. Everything else goes straight to the real store.
 */
import type { Store } from '../../relay/store/types.ts';

export type Fault = 'none' | 'fail' | 'stall';

export function faultyStore(inner: Store): Store & { fault: Fault; attempts: number } {
  const stalled: Array<() => void> = [];
  const wrap = <A extends unknown[]>(fn: (...a: A) => Promise<void>) =>
    async (...a: A): Promise<void> => {
      s.attempts++;
      if (s.fault === 'fail') throw new Error('injected: store unavailable');
      if (s.fault === 'stall') await new Promise<void>((r) => stalled.push(r)); // released on recovery
      return fn(...a);
    };
  const s = Object.create(inner) as Store & { fault: Fault; attempts: number };
  let fault: Fault = 'none';
  Object.defineProperty(s, 'fault', {
    get: () => fault,
    set: (f: Fault) => {
      fault = f;
      if (f !== 'stall') for (const r of stalled.splice(0)) r();
    },
  });
  s.attempts = 0;
  s.upsertVisitors = wrap((u) => inner.upsertVisitors(u));
  s.appendActivity = wrap((e) => inner.appendActivity(e));
  return s;
}
