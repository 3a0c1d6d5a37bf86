/**
 * The live view's timestamp shift (player.ts). rrweb's Replayer plays an event once
 * `timestamp - baseline` has elapsed since `startLive`. The visitor's clock and the transit time of
 * the first (large) frame would delay every later event by however late that frame was, so an event
 * that would be due in the future is made due now and the difference is kept in `shift` (it only
 * grows), which preserves relative timing and order; timestamps never go backwards.
 */
export interface LiveClock {
  /** The Meta event's timestamp the Replayer was started with. */
  baseline: number;
  /** Added to every event's timestamp; only ever decreases (events only get earlier). */
  shift: number;
  /** The last timestamp handed to the Replayer. */
  lastTs: number;
}

/** The timestamp to play an event at, `sinceStartMs` after `startLive`; updates the clock. */
export function liveTimestamp(clock: LiveClock, eventTs: number, sinceStartMs: number): number {
  let ts = eventTs + clock.shift;
  if (ts - clock.baseline > sinceStartMs) {
    clock.shift -= ts - clock.baseline - sinceStartMs;
    ts = clock.baseline + sinceStartMs;
  }
  if (ts < clock.lastTs) ts = clock.lastTs;
  clock.lastTs = ts;
  return ts;
}
