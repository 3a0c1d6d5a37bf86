/**
 * Write-behind for visitor metadata and the activity log. Relaying never waits on it:
 * updates are coalesced to the latest per visitor, flushed in batches, retried with
 * capped backoff while the store fails or stalls. Visitor updates are bounded in memory (what
 * would exceed the bound is dropped and counted). Activity entries are never dropped: what clients
 * can add is bounded at the source (relay/limits/activityBudget.ts refuses client-caused actions
 * while this queue is over ACTIVITY_BACKLOG_LIMIT), and what the relay itself records is kept.
 */
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { ActivityEvent, Store, VisitorUpdate } from '../store/types.ts';

const BATCH = 500;
const WRITE_TIMEOUT_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;
/** Timed-out writes still hanging in the store; past this no new write is started (no pile-up on a stalled database). */
export const MAX_ABANDONED_WRITES = 8;

export class WriteStalled extends Error {}

/**
 * Called when a visitor write that had timed out lands after all (a MongoDB write is not
 * cancelled by giving up on it). `startedAt` is when its batch was taken (Date.now()).
 */
export type LateWrite = (batch: VisitorUpdate[], startedAt: number) => Promise<void>;

function key(accountId: string, visitorId: string): string {
  return `${accountId}/${visitorId}`;
}

/** Merges `next` over `prev`: defined fields win, lastSeen only moves forward. */
export function mergeUpdate(prev: VisitorUpdate | undefined, next: VisitorUpdate): VisitorUpdate {
  if (!prev) return { ...next };
  // Object.assign, not a spread: a spread copy gets a fresh hidden class for every field added to it.
  const out: VisitorUpdate = Object.assign({}, prev);
  for (const k in next) {
    const v = (next as unknown as Record<string, unknown>)[k];
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  out.lastSeen = prev.lastSeen > next.lastSeen ? prev.lastSeen : next.lastSeen;
  return out;
}

export class WriteBehind {
  private visitors = new Map<string, VisitorUpdate>();
  private activity: ActivityEvent[] = [];
  private inFlight?: Promise<void>;
  private inFlightSince?: number;
  /** Start times of visitor writes that timed out and have not settled: they may still land. */
  private abandoned = new Set<{ startedAt: number }>();
  private failures = 0;
  private nextAttemptAt = 0;

  constructor(
    private store: Store,
    private metrics: Metrics,
    private log: Logger,
    private maxPendingVisitors: number,
    /** How long a store write may take before it counts as failed (injectable for tests). */
    private writeTimeoutMs = WRITE_TIMEOUT_MS,
  ) {}

  /**
   * While set (the service runs), a full batch is followed at once by the next one instead of the next
   * tick: a connect storm's backlog drains at the store's pace, not at one batch a second (which
   * took 36 s for 18,000 new visitors, and dropped updates past the pending bound).
   */
  drainBacklog = false;

  /** Deletion hooks this to remove what a late write re-created. */
  onLateWrite: LateWrite = async () => {};

  /** The oldest start time of a visitor write that is under way or may still land; undefined if none. */
  get oldestOpenWriteAt(): number | undefined {
    let oldest = this.inFlightSince;
    for (const a of this.abandoned) if (oldest === undefined || a.startedAt < oldest) oldest = a.startedAt;
    return oldest;
  }

  get pendingVisitors(): number {
    return this.visitors.size;
  }

  get pendingActivity(): number {
    return this.activity.length;
  }

  /** True if an unwritten update for this visitor is held. */
  hasPending(accountId: string, visitorId: string): boolean {
    return this.visitors.has(key(accountId, visitorId));
  }

  touch(u: VisitorUpdate): void {
    const k = key(u.accountId, u.visitorId);
    const prev = this.visitors.get(k);
    if (!prev && this.visitors.size >= this.maxPendingVisitors) {
      this.metrics.counters.metadata_dropped_total++;
      return;
    }
    this.visitors.set(k, mergeUpdate(prev, u));
    this.metrics.gauges.metadata_pending_visitors = this.visitors.size;
  }

  record(e: ActivityEvent): void {
    this.activity.push(e);
    this.metrics.gauges.metadata_pending_activity = this.activity.length;
  }

  /**
   * Forgets anything pending for these visitors (deletion); waits for a write already under way.
   * Returns the ids whose pending update was dropped.
   */
  async forget(accountId: string, visitorIds: Iterable<string>): Promise<string[]> {
    const ids = [...visitorIds];
    const dropped = new Set<string>();
    const drop = () => {
      for (const id of ids) if (this.visitors.delete(key(accountId, id))) dropped.add(id);
      this.metrics.gauges.metadata_pending_visitors = this.visitors.size;
    };
    drop();
    await this.inFlight?.catch(() => {});
    // A write under way that failed has put its batch back: drop these visitors again.
    drop();
    return [...dropped];
  }

  /** Forgets pending updates matching a predicate (deletion by user id or email). */
  forgetWhere(accountId: string, match: (u: VisitorUpdate) => boolean): string[] {
    const ids: string[] = [];
    for (const [k, u] of this.visitors) {
      if (u.accountId === accountId && match(u)) {
        this.visitors.delete(k);
        ids.push(u.visitorId);
      }
    }
    this.metrics.gauges.metadata_pending_visitors = this.visitors.size;
    return ids;
  }

  /** Writes what is pending, unless backing off. Never rejects. */
  flush(now = Date.now(), force = false): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (!force && now < this.nextAttemptAt) return Promise.resolve();
    if (this.visitors.size === 0 && this.activity.length === 0) return Promise.resolve();
    if (this.abandoned.size >= MAX_ABANDONED_WRITES) return Promise.resolve();
    this.inFlightSince = Date.now();
    this.inFlight = this.writeOnce(this.inFlightSince).then((rows) => {
      this.inFlight = undefined;
      this.inFlightSince = undefined;
      // After a full batch, the rest follows at once (a failure backs off instead: rows is 0 then).
      // setImmediate lets the sockets' I/O in between batches.
      if (this.drainBacklog && rows >= BATCH && this.visitors.size > 0) setImmediate(() => void this.flush());
    });
    return this.inFlight;
  }

  /** Never rejects; resolves to the visitor rows written (0 on a failure). */
  private async writeOnce(startedAt: number): Promise<number> {
    const batch: VisitorUpdate[] = [];
    for (const [k, u] of this.visitors) {
      batch.push(u);
      this.visitors.delete(k);
      if (batch.length >= BATCH) break;
    }
    const events = this.activity.splice(0, BATCH);
    try {
      if (batch.length) {
        const write = this.store.upsertVisitors(batch);
        try {
          await withTimeout(write, this.writeTimeoutMs);
        } catch (err) {
          if (err instanceof WriteStalled) this.watchAbandoned(write, batch, startedAt);
          throw err;
        }
      }
      if (events.length) await withTimeout(this.store.appendActivity(events), this.writeTimeoutMs);
      this.metrics.counters.metadata_writes_total += batch.length + events.length;
      this.failures = 0;
      this.nextAttemptAt = 0;
      return batch.length;
    } catch (err) {
      // Put the batch back under anything newer that arrived meanwhile, and back off.
      for (const u of batch) {
        const k = key(u.accountId, u.visitorId);
        if (this.visitors.size >= this.maxPendingVisitors && !this.visitors.has(k)) {
          this.metrics.counters.metadata_dropped_total++;
          continue;
        }
        this.visitors.set(k, mergeUpdate(u, this.visitors.get(k) ?? u));
      }
      // Every entry goes back, ahead of newer ones: the activity log never drops to make room.
      this.activity.unshift(...events);
      this.failures++;
      this.metrics.counters.metadata_write_failures_total++;
      const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.failures, 10));
      this.nextAttemptAt = Date.now() + backoff;
      this.log.warn({ err: (err as Error).message, failures: this.failures, retryInMs: backoff }, 'metadata write failed; will retry');
      return 0;
    } finally {
      this.metrics.gauges.metadata_pending_visitors = this.visitors.size;
      this.metrics.gauges.metadata_pending_activity = this.activity.length;
    }
  }

  private watchAbandoned(write: Promise<void>, batch: VisitorUpdate[], startedAt: number): void {
    const entry = { startedAt };
    this.abandoned.add(entry);
    this.metrics.gauges.metadata_abandoned_writes = this.abandoned.size;
    const settled = () => {
      this.abandoned.delete(entry);
      this.metrics.gauges.metadata_abandoned_writes = this.abandoned.size;
    };
    write.then(
      async () => {
        this.metrics.counters.metadata_late_writes_total++;
        try {
          await this.onLateWrite(batch, startedAt);
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'cleaning up after a late metadata write failed');
        } finally {
          settled();
        }
      },
      settled,
    );
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new WriteStalled(`store did not answer within ${ms} ms`)), ms);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
