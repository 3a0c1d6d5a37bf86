/**
 * What the MongoDB store sends to the server for visitors and activity: index specs,
 * filters and update documents, as pure functions so they are unit-tested without a
 * server (none can run in this project's environment; see DESIGN.md).
 */
import { ObjectId, type AnyBulkWriteOperation, type Filter, type IndexDescription } from 'mongodb';
import { EVENT_ID_PATTERN } from '../metadata/eventId.ts';
import type { ActivityEvent, ActivityQuery, ActivityScrub, DeleteVisitorsFilter, Tombstone, VisitorQuery, VisitorRecord, VisitorUpdate } from './types.ts';

export type VisitorDoc = VisitorRecord;
export type ActivityDoc = ActivityEvent;

export const TTL_INDEX_NAME = 'lastSeen_ttl';
export const DAY_SECONDS = 86_400;

export function visitorIndexes(retentionDays: number): IndexDescription[] {
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new Error(`retention days must be a positive integer, got ${retentionDays}`);
  return [
    { key: { lastSeen: 1 }, name: TTL_INDEX_NAME, expireAfterSeconds: retentionDays * DAY_SECONDS },
    { key: { accountId: 1, visitorId: 1 }, name: 'account_visitor_unique', unique: true },
    { key: { accountId: 1, lastSeen: -1, visitorId: -1 }, name: 'account_recent' },
    { key: { accountId: 1, userId: 1 }, name: 'account_userId' },
    { key: { accountId: 1, email: 1 }, name: 'account_email' },
    { key: { accountId: 1, lookupCode: 1 }, name: 'account_lookupCode' },
  ];
}

export const ACTIVITY_INDEXES: IndexDescription[] = [
  { key: { accountId: 1, at: -1, _id: -1 }, name: 'account_at' },
  { key: { accountId: 1, userKey: 1 }, name: 'account_userKey' },
  { key: { accountId: 1, visitorId: 1 }, name: 'account_visitorId' },
];

/** A tombstone document: `_id` is the keyed hash (it covers the account too); the visitor id is never stored. */
export interface TombstoneDoc {
  _id: string;
  accountId: string;
  expiresAt: Date;
}

/** The server removes a tombstone once `expiresAt` has passed (TTL, expireAfterSeconds 0). */
export const TOMBSTONE_INDEXES: IndexDescription[] = [
  { key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 },
];

/** Idempotent: a tombstone added again keeps the later expiry. */
export function tombstoneUpsertOp(x: Tombstone): AnyBulkWriteOperation<TombstoneDoc> {
  const expiresAt = new Date(x.expiresAt.getTime());
  if (Number.isNaN(expiresAt.getTime())) throw new Error('expiresAt must be a valid Date');
  return {
    updateOne: {
      filter: { _id: String(x.key) },
      update: { $set: { accountId: String(x.accountId) }, $max: { expiresAt } },
      upsert: true,
    },
  };
}

/**
 * Live tombstones among these keys. The TTL monitor runs about once a minute, so expiry is also
 * checked here; strings only, so no operator can be smuggled in.
 */
export function liveTombstonesFilter(accountId: string, keys: string[], now: Date): Filter<TombstoneDoc> {
  return { _id: { $in: keys.map(String) }, accountId: String(accountId), expiresAt: { $gt: new Date(now.getTime()) } };
}

/** The activity entries an erasure covers (strings only: no operator can be smuggled in). */
export function activityScrubFilter(accountId: string, s: Omit<ActivityScrub, 'pseudonym'>): Filter<ActivityDoc> | undefined {
  const or: Filter<ActivityDoc>[] = [];
  if (s.visitorIds.length) or.push({ visitorId: { $in: s.visitorIds.map(String) } });
  if (s.userKeys.length) or.push({ userKey: { $in: s.userKeys.map(String) } });
  if (s.userIds.length) or.push({ userId: { $in: s.userIds.map(String) } });
  if (!or.length) return undefined;
  return { accountId: String(accountId), $or: or };
}

/**
 * The updates for the entries `activityScrubFilter` found: per visitor id, that id becomes its
 * pseudonym; every entry loses userId and userKey ($unset: gone, not null). By `_id`, so an entry
 * appended meanwhile is not rewritten half-way.
 */
export function activityScrubOps(entries: Array<{ _id: unknown; visitorId?: string }>, pseudonym: (visitorId: string) => string): AnyBulkWriteOperation<ActivityDoc>[] {
  const unset = { userId: '', userKey: '' } as const;
  const byVisitor = new Map<string | undefined, unknown[]>();
  for (const e of entries) byVisitor.set(e.visitorId, [...(byVisitor.get(e.visitorId) ?? []), e._id]);
  return [...byVisitor].map(([visitorId, ids]) => ({
    updateMany: {
      filter: { _id: { $in: ids } } as Filter<ActivityDoc>,
      update: visitorId === undefined ? { $unset: unset } : { $set: { visitorId: pseudonym(String(visitorId)) }, $unset: unset },
    },
  }));
}

/** The TTL change to apply with `collMod` when RETENTION_DAYS changed; undefined when it already matches. */
export function ttlCollMod(current: number | undefined, retentionDays: number): { collMod: string; index: { name: string; expireAfterSeconds: number } } | undefined {
  const want = retentionDays * DAY_SECONDS;
  if (current === want) return undefined;
  return { collMod: 'visitors', index: { name: TTL_INDEX_NAME, expireAfterSeconds: want } };
}

/** One upsert per coalesced update: lastSeen only moves forward and is always a Date. */
export function visitorUpsertOp(u: VisitorUpdate): AnyBulkWriteOperation<VisitorDoc> {
  const lastSeen = new Date(u.lastSeen.getTime());
  if (Number.isNaN(lastSeen.getTime())) throw new Error('lastSeen must be a valid Date');
  const set: Record<string, unknown> = {};
  const setOnInsert: Record<string, unknown> = { firstSeen: lastSeen };
  for (const k of ['ip', 'lastUrl'] as const) {
    if (u[k] !== undefined) set[k] = String(u[k]);
    else setOnInsert[k] = '';
  }
  for (const k of ['userId', 'name', 'email', 'lookupCode'] as const) if (u[k] !== undefined) set[k] = String(u[k]);
  if (u.lookupCodeExpiresAt) set.lookupCodeExpiresAt = new Date(u.lookupCodeExpiresAt.getTime());
  const update: Record<string, unknown> = { $setOnInsert: setOnInsert, $max: { lastSeen } };
  if (Object.keys(set).length > 0) update.$set = set;
  return {
    updateOne: {
      filter: { accountId: String(u.accountId), visitorId: String(u.visitorId) },
      update,
      upsert: true,
    },
  };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function visitorSearchFilter(accountId: string, q: VisitorQuery, cursor?: { timeMs: number; tie: string }): Filter<VisitorDoc> {
  const and: Filter<VisitorDoc>[] = [{ accountId: String(accountId) }];
  if (q.userId !== undefined) and.push({ userId: String(q.userId) });
  if (q.email !== undefined) and.push({ email: { $regex: `^${escapeRegex(String(q.email))}$`, $options: 'i' } });
  if (q.lookupCode !== undefined) and.push({ lookupCode: String(q.lookupCode) });
  if (q.seenSince) and.push({ lastSeen: { $gte: q.seenSince } });
  if (q.onlyVisitorIds) and.push({ visitorId: { $in: q.onlyVisitorIds.map(String) } });
  if (q.exceptVisitorIds?.length) and.push({ visitorId: { $nin: q.exceptVisitorIds.map(String) } });
  if (q.q) {
    const re = { $regex: escapeRegex(String(q.q)), $options: 'i' };
    and.push({ $or: [{ userId: re }, { name: re }, { email: re }, { lastUrl: re }] });
  }
  if (cursor) {
    const at = new Date(cursor.timeMs);
    and.push({ $or: [{ lastSeen: { $lt: at } }, { lastSeen: at, visitorId: { $lt: cursor.tie } }] });
  }
  return and.length === 1 ? and[0] : { $and: and };
}

export function visitorDeleteFilter(accountId: string, f: DeleteVisitorsFilter): Filter<VisitorDoc> | undefined {
  const or: Filter<VisitorDoc>[] = [];
  if (f.visitorIds?.length) or.push({ visitorId: { $in: f.visitorIds.map(String) } });
  if (f.userIds?.length) or.push({ userId: { $in: f.userIds.map(String) } });
  for (const e of f.emails ?? []) or.push({ email: { $regex: `^${escapeRegex(String(e))}$`, $options: 'i' } });
  if (f.allExcept) or.push({ visitorId: { $nin: f.allExcept.map(String) } });
  if (or.length === 0) return undefined;
  return { accountId: String(accountId), $or: or };
}

export function activityFilter(accountId: string, q: ActivityQuery, cursor?: { timeMs: number; tie: string }): Filter<ActivityDoc> {
  const f: Record<string, unknown> = { accountId: String(accountId) };
  if (q.visitorId !== undefined) f.visitorId = String(q.visitorId);
  if (q.agentId !== undefined) f.agentId = String(q.agentId);
  if (q.type !== undefined) f.type = String(q.type);
  if (q.since || q.until) f.at = { ...(q.since ? { $gte: q.since } : {}), ...(q.until ? { $lt: q.until } : {}) };
  if (cursor) {
    const at = new Date(cursor.timeMs);
    f.$or = [{ at: { $lt: at } }, { at, _id: { $lt: cursor.tie } }];
  }
  return f as Filter<ActivityDoc>;
}

/**
 * An activity document with absent fields left out (the driver would store undefined as null).
 * The event id becomes `_id`, so appending the same event twice (a retry after a write that timed
 * out but landed) is a duplicate key, not a second entry.
 */
export function activityToDoc(e: ActivityEvent): ActivityDoc {
  const d: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (v !== undefined && k !== 'eventId') d[k] = v;
  if (e.eventId !== undefined) {
    if (!EVENT_ID_PATTERN.test(e.eventId)) throw new Error('eventId must be 24 lowercase hex characters');
    d._id = ObjectId.createFromHexString(e.eventId);
  }
  return d as unknown as ActivityDoc;
}

/** MongoDB's duplicate key error code. */
export const DUPLICATE_KEY = 11000;

/**
 * Whether a failed unordered insertMany failed only on duplicate keys (events already stored by an
 * earlier attempt): then every other document was inserted and the append succeeded.
 */
export function onlyDuplicateKeys(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { writeErrors?: unknown; writeConcernError?: unknown; errorResponse?: { writeConcernError?: unknown } };
  if (e.writeConcernError || e.errorResponse?.writeConcernError) return false; // not durably written: retry
  // The driver gives one WriteError or an array of them (OneOrMore<WriteError>).
  const list = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
  return list.length > 0 && list.every((w) => (w as { code?: unknown } | null)?.code === DUPLICATE_KEY);
}
