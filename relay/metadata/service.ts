/**
 * The metadata service: the only place visitor data and the activity log are written.
 * It owns the write-behind, the retention sweep (SQLite; MongoDB's TTL index does it
 * there) and deletion, which must leave nothing behind in the store, in pending writes
 * or in the relay's memory, and must not let a live visitor recreate its record.
 */
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { ActivityEvent, ActivityQuery, ActivityType, DeletedVisitor, DeleteVisitorsFilter, Page, Store, VisitorQuery, VisitorRecord, VisitorUpdate } from '../store/types.ts';
import { newEventId } from './eventId.ts';
import { maskUserId, userKey } from './mask.ts';
import { erasedPseudonym, tombstoneKey } from './tombstones.ts';
import { WriteBehind } from './writeBehind.ts';

export interface MetadataOptions {
  store: Store;
  metrics: Metrics;
  log: Logger;
  secret: Buffer;
  retentionDays: number;
  /** 0 keeps the activity log indefinitely. */
  activityRetentionDays?: number;
  maxPendingVisitors: number;
  now?: () => Date;
  /** How long a store write may take before it is given up on (tests shorten it). */
  writeTimeoutMs?: number;
  /** Ends live sessions of deleted visitors (the relay wires the session router here). */
  endVisitors?: EndVisitors;
}

/** A deletion remembered while a write that began before it may still land. */
interface RecentDeletion {
  accountId: string;
  matches: DeletionMatcher;
  /** Date.now() when the deletion finished (the writer's clock). */
  at: number;
}
const MAX_RECENT_DELETIONS = 1000;

/** What an erasure did (the REST response and the delete page report it). */
export interface ErasureResult {
  visitorIds: string[];
  /** Activity entries whose identifiers were removed or pseudonymised. */
  activityScrubbed: number;
  /** How long the store took to leave no byte of it in its files (SQLite VACUUM, off the main thread). */
  vacuumMs: number;
}

/** How long admission waits for the store's tombstone look-up before letting the visitor in. */
const TOMBSTONE_CHECK_TIMEOUT_MS = 2000;

/** Ends live sessions of deleted visitors (closes their tabs with 4004). */
export type EndVisitors = (accountId: string, visitorIds: string[]) => void;

const DAY_MS = 86_400_000;
/** A vacuum of t ms is followed by at least this many times t without one. */
const VACUUM_SPACING = 4;
const MAX_CACHED_TOMBSTONES = 100_000;
const WARN_INTERVAL_MS = 10_000;

export class MetadataService {
  readonly writer: WriteBehind;
  private flushTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  /**
   * Visitors deleted through this relay: a fast answer for touches and admission. The store's
   * tombstones are the truth (they survive a restart and reach every relay sharing the store).
   */
  private tombstones = new Map<string, number>();
  private recentDeletions: RecentDeletion[] = [];
  /** An erasure's vacuum failed: the sweep runs it again. */
  private vacuumOwed = false;
  private nextVacuum?: Promise<number>;
  /** Date.now() before which no vacuum starts (see vacuum()). */
  private vacuumFreeAt = 0;
  private warned = new Map<string, { at: number; suppressed: number }>();
  readonly now: () => Date;

  constructor(private o: MetadataOptions) {
    this.writer = new WriteBehind(o.store, o.metrics, o.log, o.maxPendingVisitors, o.writeTimeoutMs);
    this.writer.onLateWrite = (batch, startedAt) => this.eraseLateWrite(batch, startedAt);
    this.now = o.now ?? (() => new Date());
  }

  start(): void {
    this.writer.drainBacklog = true;
    this.flushTimer = setInterval(() => void this.writer.flush(), 1000);
    this.flushTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep().catch((err) => this.o.log.warn({ err: (err as Error).message }, 'retention sweep failed')), 60_000);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    this.writer.drainBacklog = false;
    clearInterval(this.flushTimer);
    clearInterval(this.sweepTimer);
    // Flush everything (batches of 500) unless the store keeps failing.
    for (let i = 0; i < 100 && (this.writer.pendingVisitors || this.writer.pendingActivity); i++) {
      const failuresBefore = this.o.metrics.counters.metadata_write_failures_total;
      await this.writer.flush(Date.now(), true);
      if (this.o.metrics.counters.metadata_write_failures_total !== failuresBefore) break;
    }
  }

  get retentionMs(): number {
    return this.o.retentionDays * DAY_MS;
  }

  /** `tombstoneKey`: the visitor's, if the caller has it already (admission computed it). */
  touch(u: Omit<VisitorUpdate, 'lastSeen' | 'tombstoneKey'>, tombstoneKey?: string): void {
    if (this.isDeleted(u.accountId, u.visitorId)) return;
    // The key lets the store refuse the write itself if another relay deleted this visitor.
    const w: VisitorUpdate = { accountId: u.accountId, visitorId: u.visitorId, lastSeen: this.now(), tombstoneKey: tombstoneKey ?? this.tombstoneKeyOf(u.accountId, u.visitorId) };
    // Not `{ ...u, lastSeen, tombstoneKey }`: V8 gives each such spread copy a fresh hidden class once
    // properties are added to it (~2 µs a visitor connect); `u`'s fields are copied onto a literal.
    this.writer.touch(Object.assign(w, u));
  }

  tombstoneKeyOf(accountId: string, visitorId: string): string {
    return tombstoneKey(this.o.secret, accountId, visitorId);
  }

  pseudonymOf(accountId: string, visitorId: string): string {
    return erasedPseudonym(this.o.secret, accountId, visitorId);
  }

  activity(accountId: string, type: ActivityType, f: { agentId?: string; visitorId?: string; userId?: string; detail?: string } = {}): void {
    const e: ActivityEvent = { accountId, at: this.now(), type, eventId: newEventId() };
    if (f.agentId) e.agentId = f.agentId;
    if (f.visitorId && this.isDeleted(accountId, f.visitorId)) {
      // An entry about an erased visitor (its session ending, say) never names it.
      e.visitorId = this.pseudonymOf(accountId, f.visitorId);
      if (f.detail) e.detail = f.detail;
      this.writer.record(e);
      return;
    }
    if (f.visitorId) e.visitorId = f.visitorId;
    if (f.userId) {
      e.userId = maskUserId(f.userId);
      e.userKey = userKey(this.o.secret, accountId, f.userId);
    }
    if (f.detail) e.detail = f.detail;
    this.writer.record(e);
  }

  userKeyOf(accountId: string, userId: string): string {
    return userKey(this.o.secret, accountId, userId);
  }

  // Reads for the REST API. Each first writes what the relay saw a moment ago (not forced: a read
  // never waits out a store backoff), so an answer includes it.

  async getVisitor(accountId: string, visitorId: string): Promise<VisitorRecord | null> {
    await this.writer.flush();
    return this.o.store.getVisitor(accountId, visitorId);
  }

  async searchVisitors(accountId: string, q: VisitorQuery): Promise<Page<VisitorRecord>> {
    await this.writer.flush();
    return this.o.store.searchVisitors(accountId, q);
  }

  /** Waiting to be written, or stored. */
  async hasVisitor(accountId: string, visitorId: string): Promise<boolean> {
    return this.writer.hasPending(accountId, visitorId) || (await this.o.store.getVisitor(accountId, visitorId)) !== null;
  }

  async listActivity(accountId: string, q: ActivityQuery): Promise<Page<ActivityEvent>> {
    await this.writer.flush();
    return this.o.store.listActivity(accountId, q);
  }

  /** Erasure of one user's activity entries outright; pending entries are written first so none escapes. */
  async purgeActivity(accountId: string, userId: string): Promise<number> {
    await this.writer.flush(Date.now(), true);
    return this.o.store.purgeActivity(accountId, this.userKeyOf(accountId, userId));
  }

  /**
   * Admission: whether this visitor id was deleted, here or by any relay sharing the store. If the
   * store cannot answer in time the visitor is let in (relaying never waits on a slow database); its
   * writes are still refused by the store, so the record is not re-created.
   */
  async refusesVisitor(accountId: string, visitorId: string, tombstoneKey = this.tombstoneKeyOf(accountId, visitorId)): Promise<boolean> {
    if (this.isDeleted(accountId, visitorId)) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), TOMBSTONE_CHECK_TIMEOUT_MS);
      timer.unref();
    });
    const check = this.o.store.hasTombstone(accountId, tombstoneKey, this.now()).then((hit) => {
      if (hit) this.cacheTombstone(`${accountId}/${visitorId}`, this.now().getTime());
      return hit;
    }, (err: unknown) => {
      this.warnOnce('tombstone', { err: (err as Error).message }, 'tombstone check failed; visitor admitted, its writes are still checked');
      return false;
    });
    try {
      return await Promise.race([check, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Deleted through this relay (the in-memory cache only; see refusesVisitor for the store). */
  isDeleted(accountId: string, visitorId: string): boolean {
    if (this.tombstones.size === 0) return false; // most relays have deleted no one: no key to build
    const at = this.tombstones.get(`${accountId}/${visitorId}`);
    if (at === undefined) return false;
    if (this.now().getTime() - at > this.retentionMs) {
      this.tombstones.delete(`${accountId}/${visitorId}`);
      return false;
    }
    return true;
  }

  /** `erase`, returning the ids deleted (the store's and the pending writes'). */
  async deleteVisitors(accountId: string, filter: DeleteVisitorsFilter, liveIds: string[] = [], by = 'admin'): Promise<string[]> {
    return (await this.erase(accountId, filter, liveIds, by)).visitorIds;
  }

  /**
   * An erasure request for visitors of one account. Tombstones go to the store first (so every
   * relay refuses the ids from then on), live sessions end, pending writes are dropped, a write
   * already under way is waited for, the rows go, the person's identifiers in the activity log are
   * pseudonymised, and the store is vacuumed so no byte of it stays in its files.
   */
  async erase(accountId: string, filter: DeleteVisitorsFilter, liveIds: string[] = [], by = 'admin'): Promise<ErasureResult> {
    const now = this.now().getTime();
    const named = [...new Set([...(filter.visitorIds ?? []), ...liveIds])];
    await this.tombstone(accountId, named, now);
    if (liveIds.length) this.o.endVisitors?.(accountId, liveIds);
    const match = deletionMatcher(filter);
    const pendingIds = this.writer.forgetWhere(accountId, match);
    pendingIds.push(...(await this.writer.forget(accountId, filter.visitorIds ?? [])));
    // A write that was under way and failed has put its batch back: drop the matching updates again.
    pendingIds.push(...this.writer.forgetWhere(accountId, match));
    await breathe();
    const stored = await this.o.store.deleteVisitors(accountId, filter);
    await breathe();
    // A live visitor counts even when nothing of it was stored: its first write may have been in
    // flight and refused by the tombstone (the SQLite writer's transaction checks it), yet its
    // session was erased, so the deletion is counted and logged like any other.
    const ids = [...new Set([...stored.map((d) => d.visitorId), ...pendingIds, ...liveIds])];
    // From here no update for these ids is accepted; one already queued or being written
    // (a heartbeat without the user id, say) is dropped, and whatever it re-created is removed.
    await this.tombstone(accountId, ids, now);
    await this.writer.forget(accountId, ids);
    if (ids.length) stored.push(...(await this.o.store.deleteVisitors(accountId, { visitorIds: ids })));
    await breathe();
    const activityScrubbed = await this.scrubActivity(accountId, filter, [...named, ...ids], stored);
    this.o.metrics.counters.visitors_deleted_total += ids.length;
    if (ids.length) this.activity(accountId, 'data_deleted', { detail: `${ids.length} visitor(s) deleted by ${by}` });
    this.rememberDeletion({ accountId, matches: match, at: Date.now() });
    await breathe();
    // Nothing removed, nothing to scrub from the files: no vacuum (a `forget` loop must not buy one).
    const vacuumMs = stored.length || pendingIds.length || activityScrubbed ? await this.vacuum() : 0;
    return { visitorIds: ids, activityScrubbed, vacuumMs };
  }

  /**
   * Vacuums the store. A vacuum rewrites the whole file, so runs are spaced: after a run of t ms
   * the next starts no sooner than VACUUM_SPACING × t later (vacuuming takes at most ~1/(1+spacing)
   * of the time, however many erasures come in), and every erasure that finished before a run
   * starts shares that run. A failure (another process reading, say) is retried by the next sweep,
   * not reported as a failed erasure.
   */
  private vacuum(): Promise<number> {
    this.nextVacuum ??= (async () => {
      // Always yields first: `nextVacuum` is assigned before it is cleared below.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, this.vacuumFreeAt - Date.now())));
      this.nextVacuum = undefined; // an erasure finishing from now on needs the run after this one
      const started = Date.now();
      try {
        const { ms } = await this.o.store.vacuum();
        this.vacuumOwed = false;
        return ms;
      } catch (err) {
        this.vacuumOwed = true;
        this.warnOnce('vacuum', { err: (err as Error).message }, 'vacuum after an erasure failed; the next sweep retries it');
        return 0;
      } finally {
        this.vacuumFreeAt = Date.now() + (Date.now() - started) * VACUUM_SPACING;
      }
    })();
    return this.nextVacuum;
  }

  /** A warning that store trouble would repeat for every client: at most one line per interval, with a count. */
  private warnOnce(kind: string, obj: object, msg: string): void {
    const now = Date.now();
    const last = this.warned.get(kind);
    if (last && now - last.at < WARN_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    this.warned.set(kind, { at: now, suppressed: 0 });
    this.o.log.warn({ ...obj, suppressedSinceLast: last?.suppressed ?? 0 }, msg);
  }

  /** The in-memory tombstone cache: bounded (the store is the truth), oldest first out. */
  private cacheTombstone(key: string, at: number): void {
    this.tombstones.delete(key);
    this.tombstones.set(key, at);
    if (this.tombstones.size <= MAX_CACHED_TOMBSTONES) return;
    for (const k of this.tombstones.keys()) {
      this.tombstones.delete(k);
      if (this.tombstones.size <= MAX_CACHED_TOMBSTONES) break;
    }
  }

  /** Remembers deleted ids here and in the store, until RETENTION_DAYS after the deletion. */
  private async tombstone(accountId: string, ids: string[], now: number): Promise<void> {
    if (!ids.length) return;
    for (const id of ids) this.cacheTombstone(`${accountId}/${id}`, now);
    const expiresAt = new Date(now + this.retentionMs);
    await this.o.store.addTombstones(ids.map((id) => ({ accountId, key: this.tombstoneKeyOf(accountId, id), expiresAt })));
  }

  /**
   * The person's identifiers in the activity log: entries of the deleted visitors, and entries under
   * the user ids and emails asked for or held by the deleted records (other devices, records already
   * expired). Entries still pending are written first so the scrub sees them.
   */
  private async scrubActivity(accountId: string, filter: DeleteVisitorsFilter, visitorIds: string[], deleted: DeletedVisitor[]): Promise<number> {
    const users = new Set<string>([...(filter.userIds ?? []), ...(filter.emails ?? [])]);
    for (const d of deleted) {
      if (d.userId !== undefined) users.add(d.userId);
      if (d.email !== undefined) users.add(d.email);
    }
    if (!visitorIds.length && !users.size) return 0;
    for (let i = 0; i < 100 && this.writer.pendingActivity; i++) {
      const failuresBefore = this.o.metrics.counters.metadata_write_failures_total;
      await this.writer.flush(Date.now(), true);
      if (this.o.metrics.counters.metadata_write_failures_total !== failuresBefore) break;
    }
    return this.o.store.scrubActivity(accountId, {
      visitorIds: [...new Set(visitorIds)],
      userKeys: [...users].map((u) => this.userKeyOf(accountId, u)),
      // Ids the log keeps in clear (not email-like); a masked email (`j***@…`) is shared by many people: never matched.
      userIds: [...users].filter((u) => maskUserId(u) === u),
      pseudonym: (id) => this.pseudonymOf(accountId, id),
    });
  }

  /**
   * A write given up on (timed out) may still land later and re-create what a deletion since
   * removed: MongoDB does not cancel it. Whatever in its batch a deletion since then covers is
   * erased again and tombstoned.
   */
  private async eraseLateWrite(batch: VisitorUpdate[], startedAt: number): Promise<void> {
    const since = this.recentDeletions.filter((d) => d.at >= startedAt);
    const erase = new Map<string, Set<string>>();
    for (const u of batch) {
      let hit = this.isDeleted(u.accountId, u.visitorId);
      const mine = since.filter((d) => d.accountId === u.accountId);
      if (!hit && mine.length) {
        // Judged on the stored row: the late write may have added only part of what matched.
        const row = await this.o.store.getVisitor(u.accountId, u.visitorId);
        hit = !!row && mine.some((d) => d.matches(row));
      }
      if (!hit) continue;
      const ids = erase.get(u.accountId) ?? new Set<string>();
      erase.set(u.accountId, ids.add(u.visitorId));
    }
    const now = this.now().getTime();
    for (const [accountId, idSet] of erase) {
      const ids = [...idSet];
      await this.tombstone(accountId, ids, now);
      await this.writer.forget(accountId, ids);
      const n = (await this.o.store.deleteVisitors(accountId, { visitorIds: ids })).length;
      this.o.metrics.counters.metadata_late_writes_erased_total += n;
      if (n) this.o.log.warn({ accountId, erased: n }, 'a late metadata write re-created deleted visitors; erased again');
      if (n) await this.vacuum();
    }
    this.pruneDeletions();
  }

  private rememberDeletion(d: RecentDeletion): void {
    this.recentDeletions.push(d);
    this.pruneDeletions();
  }

  /** Keeps only deletions that a write still open (under way, or timed out but unsettled) predates. */
  private pruneDeletions(): void {
    const horizon = this.writer.oldestOpenWriteAt;
    this.recentDeletions = horizon === undefined ? [] : this.recentDeletions.filter((d) => d.at >= horizon);
    if (this.recentDeletions.length > MAX_RECENT_DELETIONS) this.recentDeletions.splice(0, this.recentDeletions.length - MAX_RECENT_DELETIONS);
  }

  /** Retention: visitor rows past RETENTION_DAYS (SQLite; MongoDB's TTL index does it there). */
  async sweep(): Promise<number> {
    const n = await this.o.store.sweepExpiredVisitors(this.now(), this.retentionMs);
    this.o.metrics.counters.visitors_expired_total += n;
    await this.o.store.sweepTombstones(this.now());
    const cutoff = this.now().getTime() - this.retentionMs;
    for (const [k, at] of this.tombstones) if (at <= cutoff) this.tombstones.delete(k);
    if (this.vacuumOwed) await this.vacuum();
    if (this.o.activityRetentionDays) {
      await this.o.store.sweepActivity(new Date(this.now().getTime() - this.o.activityRetentionDays * DAY_MS));
    }
    return n;
  }
}

/** Lets sockets and timers run between the synchronous SQLite steps of an erasure. */
const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

type DeletionMatcher = (v: Pick<VisitorRecord, 'visitorId' | 'userId' | 'email'>) => boolean;

/**
 * Whether a deletion filter covers a visitor (a pending update or a stored row): the rule the
 * stores apply in SQL and in MongoDB filters, here for what is in memory. Sets, because a bulk
 * deletion is checked against every pending update.
 */
export function deletionMatcher(filter: DeleteVisitorsFilter): DeletionMatcher {
  const ids = new Set(filter.visitorIds ?? []);
  const users = new Set(filter.userIds ?? []);
  const emails = new Set((filter.emails ?? []).map((e) => e.toLowerCase()));
  const except = filter.allExcept ? new Set(filter.allExcept) : undefined;
  return (v) =>
    ids.has(v.visitorId) ||
    (v.userId !== undefined && users.has(v.userId)) ||
    (v.email !== undefined && emails.has(v.email.toLowerCase())) ||
    (except !== undefined && !except.has(v.visitorId));
}
