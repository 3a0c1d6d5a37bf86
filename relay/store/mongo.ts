/**
 * The production store on MongoDB (official driver), used when MONGODB_URL is set.
 * No MongoDB server can run in this project's environment: the index specs and
 * filters below are unit-tested as data, and the conformance suite runs against a
 * real server only when MONGODB_URL is given (see DESIGN.md).
 */
import { MongoClient, MongoServerError, ObjectId, type Collection, type Db, type IndexDescription } from 'mongodb';
import { decodeCursor, encodeCursor } from './cursor.ts';
import {
  ACTIVITY_INDEXES, activityFilter, activityScrubFilter, activityScrubOps, activityToDoc, liveTombstonesFilter, onlyDuplicateKeys, TOMBSTONE_INDEXES, tombstoneUpsertOp,
  TTL_INDEX_NAME, ttlCollMod, visitorDeleteFilter, visitorIndexes, visitorSearchFilter, visitorUpsertOp, type ActivityDoc, type TombstoneDoc, type VisitorDoc,
} from './mongoDocs.ts';
import {
  StoreConflictError,
  type AccountRecord, type ActivityEvent, type ActivityQuery, type ActivityScrub, type DeletedVisitor, type DeleteVisitorsFilter, type Page,
  type Store, type Tombstone, type VisitorQuery, type VisitorRecord, type VisitorUpdate,
} from './types.ts';

export type AccountDoc = Omit<AccountRecord, 'id'> & { _id: string };

export const ACCOUNT_INDEXES: IndexDescription[] = [
  { key: { publicKey: 1 }, name: 'publicKey_unique', unique: true },
  { key: { name: 1 }, name: 'name_unique', unique: true },
];

export function accountByPublicKeyFilter(publicKey: string): { publicKey: string } {
  // A plain string equality: a caller can never smuggle an operator object in here.
  return { publicKey: String(publicKey) };
}

/** Secret rotation: exact id, and only the hash changes (strings: no operator can be smuggled in). */
export function accountSecretUpdate(id: string, secretHash: string): { filter: { _id: string }; update: { $set: { secretHash: string } } } {
  return { filter: { _id: String(id) }, update: { $set: { secretHash: String(secretHash) } } };
}

/**
 * The document stored for an account. An absent agentKey is left out: the driver would
 * otherwise serialise `undefined` as BSON null (ignoreUndefined defaults to false).
 */
export function accountToDoc(a: AccountRecord): AccountDoc {
  const { id, agentKey, ...rest } = a;
  return agentKey ? { _id: id, ...rest, agentKey } : { _id: id, ...rest };
}

export function accountFromDoc(d: AccountDoc | null): AccountRecord | null {
  if (!d) return null;
  const { _id, agentKey, ...rest } = d;
  // A null agentKey (written by an older version) means "none", as in the interface.
  return agentKey ? { id: _id, ...rest, agentKey } : { id: _id, ...rest };
}

export class MongoStore implements Store {
  readonly kind = 'mongodb' as const;
  private constructor(private client: MongoClient, private db: Db) {}

  static async connect(url: string, dbName?: string, retentionDays = 30): Promise<MongoStore> {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000, appName: 'cobrowse-relay', ignoreUndefined: true });
    await client.connect();
    const store = new MongoStore(client, client.db(dbName));
    await store.accounts().createIndexes(ACCOUNT_INDEXES);
    await store.ensureVisitorIndexes(retentionDays);
    await store.activity().createIndexes(ACTIVITY_INDEXES);
    await store.tombstones().createIndexes(TOMBSTONE_INDEXES);
    return store;
  }

  /** Idempotent; a changed RETENTION_DAYS is applied to the existing TTL index with collMod. */
  private async ensureVisitorIndexes(retentionDays: number): Promise<void> {
    const specs = visitorIndexes(retentionDays);
    const existing = await this.visitors().listIndexes().toArray().catch(() => [] as Array<{ name?: string; expireAfterSeconds?: number }>);
    const ttl = existing.find((i) => i.name === TTL_INDEX_NAME);
    if (ttl) {
      const mod = ttlCollMod(ttl.expireAfterSeconds, retentionDays);
      if (mod) await this.db.command(mod);
    }
    await this.visitors().createIndexes(ttl ? specs.filter((s) => s.name !== TTL_INDEX_NAME) : specs);
  }

  private visitors(): Collection<VisitorDoc> {
    return this.db.collection<VisitorDoc>('visitors');
  }

  private activity(): Collection<ActivityDoc> {
    return this.db.collection<ActivityDoc>('activity');
  }

  private tombstones(): Collection<TombstoneDoc> {
    return this.db.collection<TombstoneDoc>('tombstones');
  }

  /** The keys among these with a live tombstone, per account. */
  private async tombstoned(updates: VisitorUpdate[], now: Date): Promise<Set<string>> {
    const byAccount = new Map<string, string[]>();
    for (const u of updates) if (u.tombstoneKey) byAccount.set(u.accountId, [...(byAccount.get(u.accountId) ?? []), u.tombstoneKey]);
    const hit = new Set<string>();
    for (const [accountId, keys] of byAccount) {
      for (const d of await this.tombstones().find(liveTombstonesFilter(accountId, keys, now), { projection: { _id: 1 } }).toArray()) hit.add(d._id);
    }
    return hit;
  }

  /**
   * MongoDB cannot check another collection inside an upsert, so: tombstoned visitors are filtered
   * out before the write, and checked again after it. A deletion adds its tombstones before it
   * removes rows; an upsert that missed the tombstone before writing therefore either landed before
   * the rows were removed (and was removed with them) or sees the tombstone afterwards and removes
   * what it wrote here. Between the two, for a moment, the row can exist.
   */
  async upsertVisitors(updates: VisitorUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const now = new Date();
    const before = await this.tombstoned(updates, now);
    const allowed = updates.filter((u) => !u.tombstoneKey || !before.has(u.tombstoneKey));
    if (allowed.length === 0) return;
    await this.visitors().bulkWrite(allowed.map(visitorUpsertOp), { ordered: false });
    const after = await this.tombstoned(allowed, now);
    for (const u of allowed) {
      if (u.tombstoneKey && after.has(u.tombstoneKey)) await this.visitors().deleteOne({ accountId: String(u.accountId), visitorId: String(u.visitorId) });
    }
  }

  async getVisitor(accountId: string, visitorId: string): Promise<VisitorRecord | null> {
    return this.visitors().findOne({ accountId: String(accountId), visitorId: String(visitorId) }, { projection: { _id: 0 } });
  }

  async searchVisitors(accountId: string, q: VisitorQuery): Promise<Page<VisitorRecord>> {
    const rows = await this.visitors()
      .find(visitorSearchFilter(accountId, q, decodeCursor(q.cursor)), { projection: { _id: 0 } })
      .sort({ lastSeen: -1, visitorId: -1 })
      .limit(q.limit + 1)
      .toArray();
    const items = rows.slice(0, q.limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > q.limit && last ? encodeCursor(last.lastSeen.getTime(), last.visitorId) : undefined };
  }

  async deleteVisitors(accountId: string, f: DeleteVisitorsFilter): Promise<DeletedVisitor[]> {
    const filter = visitorDeleteFilter(accountId, f);
    if (!filter) return [];
    const rows = await this.visitors().find(filter, { projection: { _id: 0, visitorId: 1, userId: 1, email: 1 } }).toArray();
    if (rows.length) await this.visitors().deleteMany({ accountId: String(accountId), visitorId: { $in: rows.map((d) => d.visitorId) } });
    return rows.map((d) => {
      const out: DeletedVisitor = { visitorId: d.visitorId };
      if (d.userId !== undefined) out.userId = d.userId;
      if (d.email !== undefined) out.email = d.email;
      return out;
    });
  }

  /** The TTL index does this on MongoDB (within about a minute of expiry); nothing to sweep. */
  async sweepExpiredVisitors(): Promise<number> {
    return 0;
  }

  async appendActivity(events: ActivityEvent[]): Promise<void> {
    if (!events.length) return;
    try {
      // Unordered: on a retry, the events an earlier attempt stored are duplicate keys; the rest go in.
      await this.activity().insertMany(events.map(activityToDoc), { ordered: false });
    } catch (err) {
      if (!onlyDuplicateKeys(err)) throw err;
    }
  }

  async listActivity(accountId: string, q: ActivityQuery): Promise<Page<ActivityEvent>> {
    const c = decodeCursor(q.cursor);
    const cursor = c ? { timeMs: c.timeMs, tie: new ObjectId(c.tie) as unknown as string } : undefined;
    const rows = await this.activity().find(activityFilter(accountId, q, cursor)).sort({ at: -1, _id: -1 }).limit(q.limit + 1).toArray();
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(({ _id, ...e }) => e as ActivityEvent),
      nextCursor: rows.length > q.limit && last ? encodeCursor(last.at.getTime(), String(last._id)) : undefined,
    };
  }

  async sweepActivity(before: Date): Promise<number> {
    return (await this.activity().deleteMany({ at: { $lt: new Date(before.getTime()) } })).deletedCount;
  }

  async purgeActivity(accountId: string, userKey: string): Promise<number> {
    return (await this.activity().deleteMany({ accountId: String(accountId), userKey: String(userKey) })).deletedCount;
  }

  async scrubActivity(accountId: string, s: ActivityScrub): Promise<number> {
    const filter = activityScrubFilter(accountId, s);
    if (!filter) return 0;
    // Not atomic on MongoDB: an entry appended between the find and the update is missed. The
    // metadata service flushes its pending entries first and tags later ones itself.
    const entries = await this.activity().find(filter, { projection: { _id: 1, visitorId: 1 } }).toArray();
    if (!entries.length) return 0;
    return (await this.activity().bulkWrite(activityScrubOps(entries, s.pseudonym), { ordered: false })).matchedCount;
  }

  async addTombstones(tombstones: Tombstone[]): Promise<void> {
    if (!tombstones.length) return;
    await this.tombstones().bulkWrite(tombstones.map(tombstoneUpsertOp), { ordered: false });
  }

  async hasTombstone(accountId: string, key: string, now: Date): Promise<boolean> {
    return (await this.tombstones().findOne(liveTombstonesFilter(accountId, [key], now), { projection: { _id: 1 } })) !== null;
  }

  /** The TTL index on expiresAt does this on MongoDB. */
  async sweepTombstones(): Promise<number> {
    return 0;
  }

  /**
   * Nothing to do from here: WiredTiger reuses freed space and the relay cannot scrub the server's
   * files or its oplog; that is the database operator's side (encrypted storage, oplog window).
   */
  async vacuum(): Promise<{ ms: number }> {
    return { ms: 0 };
  }

  private accounts(): Collection<AccountDoc> {
    return this.db.collection<AccountDoc>('accounts');
  }

  async createAccount(a: AccountRecord): Promise<void> {
    try {
      await this.accounts().insertOne(accountToDoc(a));
    } catch (err) {
      if (err instanceof MongoServerError && err.code === 11000) {
        throw new StoreConflictError('an account with this id, name or public key exists');
      }
      throw err;
    }
  }

  async getAccountById(id: string): Promise<AccountRecord | null> {
    return accountFromDoc(await this.accounts().findOne({ _id: String(id) }));
  }

  async getAccountByPublicKey(publicKey: string): Promise<AccountRecord | null> {
    return accountFromDoc(await this.accounts().findOne(accountByPublicKeyFilter(publicKey)));
  }

  async getAccountByName(name: string): Promise<AccountRecord | null> {
    return accountFromDoc(await this.accounts().findOne({ name: String(name) }));
  }

  async setAccountSecretHash(id: string, secretHash: string): Promise<boolean> {
    const { filter, update } = accountSecretUpdate(id, secretHash);
    return (await this.accounts().updateOne(filter, update)).matchedCount === 1;
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
