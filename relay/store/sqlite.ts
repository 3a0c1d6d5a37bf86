/** The embedded default store: one SQLite file (WAL) under DATA_DIR. */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { SqliteVacuum } from './sqliteVacuum.ts';
import { SqliteVisitorWriter } from './sqliteVisitorWriter.ts';
import {
  StoreConflictError,
  type AccountRecord, type ActivityEvent, type ActivityQuery, type ActivityScrub, type DeletedVisitor, type DeleteVisitorsFilter, type Page,
  type Store, type Tombstone, type VisitorQuery, type VisitorRecord, type VisitorUpdate,
} from './types.ts';

interface VisitorRow {
  account_id: string;
  visitor_id: string;
  ip: string;
  last_url: string;
  first_seen: number;
  last_seen: number;
  user_id: string | null;
  name: string | null;
  email: string | null;
  lookup_code: string | null;
  lookup_code_expires_at: number | null;
}

function visitorFromRow(r: VisitorRow): VisitorRecord {
  const v: VisitorRecord = {
    accountId: r.account_id,
    visitorId: r.visitor_id,
    ip: r.ip,
    lastUrl: r.last_url,
    firstSeen: new Date(r.first_seen),
    lastSeen: new Date(r.last_seen),
  };
  if (r.user_id !== null) v.userId = r.user_id;
  if (r.name !== null) v.name = r.name;
  if (r.email !== null) v.email = r.email;
  if (r.lookup_code !== null) v.lookupCode = r.lookup_code;
  if (r.lookup_code_expires_at !== null) v.lookupCodeExpiresAt = new Date(r.lookup_code_expires_at);
  return v;
}

interface ActivityRow {
  id: number;
  account_id: string;
  at: number;
  type: string;
  agent_id: string | null;
  visitor_id: string | null;
  user_id: string | null;
  user_key: string | null;
  detail: string | null;
}

function activityFromRow(r: ActivityRow): ActivityEvent {
  const e: ActivityEvent = { accountId: r.account_id, at: new Date(r.at), type: r.type as ActivityEvent['type'] };
  if (r.agent_id !== null) e.agentId = r.agent_id;
  if (r.visitor_id !== null) e.visitorId = r.visitor_id;
  if (r.user_id !== null) e.userId = r.user_id;
  if (r.user_key !== null) e.userKey = r.user_key;
  if (r.detail !== null) e.detail = r.detail;
  return e;
}

/** LIKE pattern for a case-insensitive substring, with the wildcards in `s` escaped. */
function likeContains(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  public_key TEXT NOT NULL UNIQUE,
  secret_hash TEXT NOT NULL,
  allowed_origins TEXT NOT NULL,
  require_consent INTEGER NOT NULL,
  agent_key_alg TEXT,
  agent_key_pem TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS visitors (
  account_id TEXT NOT NULL,
  visitor_id TEXT NOT NULL,
  ip TEXT NOT NULL DEFAULT '',
  last_url TEXT NOT NULL DEFAULT '',
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  user_id TEXT,
  name TEXT,
  email TEXT,
  lookup_code TEXT,
  lookup_code_expires_at INTEGER,
  PRIMARY KEY (account_id, visitor_id)
);
-- The visitor list's order, and the retention sweep's (per account: sweepExpiredVisitors). There is
-- no index on last_seen alone: each visitor touch moved the visitor in it too, a random page.
CREATE INDEX IF NOT EXISTS visitors_account_seen ON visitors (account_id, last_seen DESC, visitor_id DESC);
-- Partial: most visitors never identify or ask for a code, and a NULL entry in each of these cost
-- every new visitor's row three more B-tree inserts (~3x the CPU of the upsert). Lookups by
-- user_id = ?, email = ?, lookup_code = ? imply IS NOT NULL, so they still use them.
CREATE INDEX IF NOT EXISTS visitors_user_set ON visitors (account_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS visitors_email_set ON visitors (account_id, email) WHERE email IS NOT NULL;
CREATE INDEX IF NOT EXISTS visitors_code_set ON visitors (account_id, lookup_code) WHERE lookup_code IS NOT NULL;
CREATE TABLE IF NOT EXISTS activity (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  agent_id TEXT,
  visitor_id TEXT,
  user_id TEXT,
  user_key TEXT,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS activity_account_at ON activity (account_id, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS activity_user_key ON activity (account_id, user_key);
CREATE INDEX IF NOT EXISTS activity_visitor ON activity (account_id, visitor_id);
CREATE INDEX IF NOT EXISTS activity_user ON activity (account_id, user_id);
CREATE TABLE IF NOT EXISTS tombstones (
  account_id TEXT NOT NULL,
  key TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tombstones_expiry ON tombstones (expires_at);`;

/**
 * Each account that has visitor rows, from the (account_id, …) index one account at a time (a
 * skip-scan: one index seek per account, not a read of every row).
 */
const ACCOUNTS_WITH_VISITORS_SQL = `
  WITH RECURSIVE a(id) AS (
    SELECT MIN(account_id) FROM visitors
    UNION ALL
    SELECT (SELECT MIN(account_id) FROM visitors WHERE account_id > a.id) FROM a WHERE a.id IS NOT NULL
  )
  SELECT id FROM a WHERE id IS NOT NULL`;

interface AccountRow {
  id: string;
  name: string;
  public_key: string;
  secret_hash: string;
  allowed_origins: string;
  require_consent: number;
  agent_key_alg: string | null;
  agent_key_pem: string | null;
  e2e: string | null;
  created_at: number;
}

function fromRow(r: AccountRow | undefined): AccountRecord | null {
  if (!r) return null;
  return {
    id: r.id,
    name: r.name,
    publicKey: r.public_key,
    secretHash: r.secret_hash,
    allowedOrigins: JSON.parse(r.allowed_origins) as string[],
    requireConsent: r.require_consent === 1,
    agentKey: r.agent_key_alg && r.agent_key_pem ? { alg: r.agent_key_alg as 'RS256' | 'ES256', pem: r.agent_key_pem } : undefined,
    ...(r.e2e === 'required' || r.e2e === 'off' ? { e2e: r.e2e } : {}),
    createdAt: new Date(r.created_at),
  };
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly file: string;
  private db: Database.Database;
  /** VACUUM in a worker; writes on this connection wait while it runs (see sqliteVacuum.ts). */
  private vac: SqliteVacuum;
  /** Visitor upserts, the write a connect storm brings by the thousand: off the event loop (sqliteVisitorWriter.ts). */
  private visitorWriter: SqliteVisitorWriter;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = path.join(dataDir, 'cobrowse.sqlite');
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    // Erasure must really erase: deleted rows are overwritten with zeros, and after each
    // deletion the WAL (which still holds old page images) is checkpointed and truncated.
    this.db.pragma('secure_delete = ON');
    this.db.exec(SCHEMA);
    this.migrate();
    this.vac = new SqliteVacuum(this.file);
    this.visitorWriter = new SqliteVisitorWriter(this.file);
  }

  /** Brings a data directory written by an older relay up to the current schema. */
  private migrate(): void {
    const activityColumns = (this.db.prepare('PRAGMA table_info(activity)').all() as Array<{ name: string }>).map((c) => c.name);
    if (!activityColumns.includes('event_id')) this.db.exec('ALTER TABLE activity ADD COLUMN event_id TEXT');
    // The e2e setting (NULL: an account from before it, = off).
    const accountColumns = (this.db.prepare('PRAGMA table_info(accounts)').all() as Array<{ name: string }>).map((c) => c.name);
    if (!accountColumns.includes('e2e')) this.db.exec('ALTER TABLE accounts ADD COLUMN e2e TEXT');
    // Idempotent appends: a retried batch keeps one row per event (NULLs, from before, never clash).
    this.db.exec('CREATE UNIQUE INDEX IF NOT EXISTS activity_event_id ON activity (event_id)');
    // The full-column indexes these replaced (the partial *_set ones, in SCHEMA).
    this.db.exec('DROP INDEX IF EXISTS visitors_user; DROP INDEX IF EXISTS visitors_email; DROP INDEX IF EXISTS visitors_code;');
    // The retention sweep goes through visitors_account_seen now (a returning visitor's update cost ~21 % less without it).
    this.db.exec('DROP INDEX IF EXISTS visitors_last_seen');
  }

  async createAccount(a: AccountRecord): Promise<void> {
    while (this.vac.busy) await this.vac.idle(); // never block the event loop on the vacuum's lock
    try {
      this.db
        .prepare(
          `INSERT INTO accounts (id, name, public_key, secret_hash, allowed_origins, require_consent, agent_key_alg, agent_key_pem, e2e, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(a.id, a.name, a.publicKey, a.secretHash, JSON.stringify(a.allowedOrigins), a.requireConsent ? 1 : 0,
          a.agentKey?.alg ?? null, a.agentKey?.pem ?? null, a.e2e ?? null, a.createdAt.getTime());
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) {
        throw new StoreConflictError('an account with this id, name or public key exists');
      }
      throw err;
    }
  }

  async getAccountById(id: string): Promise<AccountRecord | null> {
    return fromRow(this.db.prepare('SELECT * FROM accounts WHERE id = ?').get(id) as AccountRow | undefined);
  }

  async getAccountByPublicKey(publicKey: string): Promise<AccountRecord | null> {
    return fromRow(this.db.prepare('SELECT * FROM accounts WHERE public_key = ?').get(publicKey) as AccountRow | undefined);
  }

  async getAccountByName(name: string): Promise<AccountRecord | null> {
    return fromRow(this.db.prepare('SELECT * FROM accounts WHERE name = ?').get(name) as AccountRow | undefined);
  }

  async listAccounts(): Promise<AccountRecord[]> {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY created_at, id').all() as AccountRow[]).map((r) => fromRow(r)!);
  }

  async setAccountSecretHash(id: string, secretHash: string): Promise<boolean> {
    while (this.vac.busy) await this.vac.idle(); // never block the event loop on the vacuum's lock
    return this.db.prepare('UPDATE accounts SET secret_hash = ? WHERE id = ?').run(secretHash, id).changes === 1;
  }

  async upsertVisitors(updates: VisitorUpdate[]): Promise<void> {
    while (this.vac.busy) await this.vac.idle(); // a vacuum holds the write lock: wait here, not in the worker's busy loop
    await this.visitorWriter.write(updates);
  }

  async getVisitor(accountId: string, visitorId: string): Promise<VisitorRecord | null> {
    const r = this.db.prepare('SELECT * FROM visitors WHERE account_id = ? AND visitor_id = ?').get(accountId, visitorId) as VisitorRow | undefined;
    return r ? visitorFromRow(r) : null;
  }

  async searchVisitors(accountId: string, q: VisitorQuery): Promise<Page<VisitorRecord>> {
    const where = ['account_id = @accountId'];
    const params: Record<string, unknown> = { accountId, limit: q.limit + 1 };
    if (q.userId !== undefined) (where.push('user_id = @userId'), (params.userId = q.userId));
    if (q.email !== undefined) (where.push('email = @email COLLATE NOCASE'), (params.email = q.email));
    if (q.lookupCode !== undefined) (where.push('lookup_code = @code'), (params.code = q.lookupCode));
    if (q.seenSince) (where.push('last_seen >= @since'), (params.since = q.seenSince.getTime()));
    // One JSON parameter however many ids: no bound-variable limit, one statement shape.
    if (q.onlyVisitorIds) (where.push('visitor_id IN (SELECT value FROM json_each(@only))'), (params.only = JSON.stringify(q.onlyVisitorIds.map(String))));
    if (q.exceptVisitorIds?.length) (where.push('visitor_id NOT IN (SELECT value FROM json_each(@except))'), (params.except = JSON.stringify(q.exceptVisitorIds.map(String))));
    if (q.q) {
      where.push("(user_id LIKE @q ESCAPE '\\' OR name LIKE @q ESCAPE '\\' OR email LIKE @q ESCAPE '\\' OR last_url LIKE @q ESCAPE '\\')");
      params.q = likeContains(q.q);
    }
    const c = decodeCursor(q.cursor);
    if (c) (where.push('(last_seen < @cTime OR (last_seen = @cTime AND visitor_id < @cTie))'), (params.cTime = c.timeMs), (params.cTie = c.tie));
    const rows = this.db
      .prepare(`SELECT * FROM visitors WHERE ${where.join(' AND ')} ORDER BY last_seen DESC, visitor_id DESC LIMIT @limit`)
      .all(params) as VisitorRow[];
    const items = rows.slice(0, q.limit).map(visitorFromRow);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > q.limit && last ? encodeCursor(last.lastSeen.getTime(), last.visitorId) : undefined };
  }

  async deleteVisitors(accountId: string, f: DeleteVisitorsFilter): Promise<DeletedVisitor[]> {
    while (this.vac.busy) await this.vac.idle(); // never block the event loop on the vacuum's lock
    const run = this.db.transaction((): DeletedVisitor[] => {
      const ids = new Set<string>();
      const select = (sql: string, values: string[]) => {
        const stmt = this.db.prepare(sql);
        for (const v of values) for (const r of stmt.all(accountId, v) as Array<{ visitor_id: string }>) ids.add(r.visitor_id);
      };
      select('SELECT visitor_id FROM visitors WHERE account_id = ? AND visitor_id = ?', f.visitorIds ?? []);
      select('SELECT visitor_id FROM visitors WHERE account_id = ? AND user_id = ?', f.userIds ?? []);
      select('SELECT visitor_id FROM visitors WHERE account_id = ? AND email = ? COLLATE NOCASE', f.emails ?? []);
      if (f.allExcept) {
        const keep = new Set(f.allExcept);
        for (const r of this.db.prepare('SELECT visitor_id FROM visitors WHERE account_id = ?').all(accountId) as Array<{ visitor_id: string }>) {
          if (!keep.has(r.visitor_id)) ids.add(r.visitor_id);
        }
      }
      const del = this.db.prepare('DELETE FROM visitors WHERE account_id = ? AND visitor_id = ? RETURNING user_id, email');
      const out: DeletedVisitor[] = [];
      for (const id of ids) {
        const r = del.get(accountId, id) as { user_id: string | null; email: string | null } | undefined;
        if (!r) continue;
        const d: DeletedVisitor = { visitorId: id };
        if (r.user_id !== null) d.userId = r.user_id;
        if (r.email !== null) d.email = r.email;
        out.push(d);
      }
      return out;
    });
    const deleted = run();
    // Old page images leave the WAL at once; the erasure's vacuum then rebuilds every page.
    if (deleted.length) this.scrubWal();
    return deleted;
  }

  /** Moves the WAL into the (zero-on-delete) database file and truncates it, so deleted data leaves no copy behind. */
  private scrubWal(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async sweepExpiredVisitors(now: Date, retentionMs: number): Promise<number> {
    while (this.vac.busy) await this.vac.idle(); // never block the event loop on the vacuum's lock
    const accounts = this.db.prepare(ACCOUNTS_WITH_VISITORS_SQL);
    const expire = this.db.prepare('DELETE FROM visitors WHERE account_id = ? AND last_seen < ?');
    const n = this.db.transaction((before: number) => {
      let deleted = 0;
      for (const { id } of accounts.all() as Array<{ id: string }>) deleted += expire.run(id, before).changes;
      return deleted;
    })(now.getTime() - retentionMs);
    if (n) this.scrubWal();
    return n;
  }

  async appendActivity(events: ActivityEvent[]): Promise<void> {
    while (this.vac.busy) await this.vac.idle(); // never block the event loop on the vacuum's lock
    const stmt = this.db.prepare(
      'INSERT INTO activity (account_id, at, type, agent_id, visitor_id, user_id, user_key, detail, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING',
    );
    this.db.transaction(() => {
      for (const e of events) {
        stmt.run(e.accountId, e.at.getTime(), e.type, e.agentId ?? null, e.visitorId ?? null, e.userId ?? null, e.userKey ?? null, e.detail ?? null, e.eventId ?? null);
      }
    })();
  }

  async listActivity(accountId: string, q: ActivityQuery): Promise<Page<ActivityEvent>> {
    const where = ['account_id = @accountId'];
    const params: Record<string, unknown> = { accountId, limit: q.limit + 1 };
    if (q.visitorId !== undefined) (where.push('visitor_id = @visitorId'), (params.visitorId = q.visitorId));
    if (q.agentId !== undefined) (where.push('agent_id = @agentId'), (params.agentId = q.agentId));
    if (q.type !== undefined) (where.push('type = @type'), (params.type = q.type));
    if (q.since) (where.push('at >= @since'), (params.since = q.since.getTime()));
    if (q.until) (where.push('at < @until'), (params.until = q.until.getTime()));
    const c = decodeCursor(q.cursor);
    if (c) (where.push('(at < @cTime OR (at = @cTime AND id < @cTie))'), (params.cTime = c.timeMs), (params.cTie = Number(c.tie)));
    const rows = this.db
      .prepare(`SELECT * FROM activity WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT @limit`)
      .all(params) as ActivityRow[];
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return { items: page.map(activityFromRow), nextCursor: rows.length > q.limit && last ? encodeCursor(last.at, String(last.id)) : undefined };
  }

  async sweepActivity(before: Date): Promise<number> {
    while (this.vac.busy) await this.vac.idle(); // never block the event loop on the vacuum's lock
    const n = this.db.prepare('DELETE FROM activity WHERE at < ?').run(before.getTime()).changes;
    if (n) this.scrubWal();
    return n;
  }

  async purgeActivity(accountId: string, userKey: string): Promise<number> {
    while (this.vac.busy) await this.vac.idle(); // never block the event loop on the vacuum's lock
    const n = this.db.prepare('DELETE FROM activity WHERE account_id = ? AND user_key = ?').run(accountId, userKey).changes;
    if (n) await this.vacuum(); // an erasure request: no copy left in any page's free space
    return n;
  }

  async scrubActivity(accountId: string, s: ActivityScrub): Promise<number> {
    while (this.vac.busy) await this.vac.idle();
    // Three indexed look-ups (UNION drops duplicates), not one scan of the whole log on the main thread.
    const match = this.db.prepare(`
      SELECT id, visitor_id FROM activity WHERE account_id = @accountId AND visitor_id IN (SELECT value FROM json_each(@visitorIds))
      UNION SELECT id, visitor_id FROM activity WHERE account_id = @accountId AND user_key IN (SELECT value FROM json_each(@userKeys))
      UNION SELECT id, visitor_id FROM activity WHERE account_id = @accountId AND user_id IN (SELECT value FROM json_each(@userIds))`);
    const update = this.db.prepare('UPDATE activity SET visitor_id = ?, user_id = NULL, user_key = NULL WHERE id = ?');
    // One transaction: no entry appended meanwhile escapes half-scrubbed.
    const n = this.db.transaction(() => {
      const rows = match.all({
        accountId, visitorIds: JSON.stringify(s.visitorIds.map(String)), userKeys: JSON.stringify(s.userKeys.map(String)), userIds: JSON.stringify(s.userIds.map(String)),
      }) as Array<{ id: number; visitor_id: string | null }>;
      for (const r of rows) update.run(r.visitor_id === null ? null : s.pseudonym(r.visitor_id), r.id);
      return rows.length;
    })();
    return n; // the erasure's vacuum follows
  }

  async addTombstones(tombstones: Tombstone[]): Promise<void> {
    while (this.vac.busy) await this.vac.idle();
    const stmt = this.db.prepare(`INSERT INTO tombstones (account_id, key, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (account_id, key) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)`);
    this.db.transaction(() => {
      for (const x of tombstones) stmt.run(String(x.accountId), String(x.key), x.expiresAt.getTime());
    })();
  }

  async hasTombstone(accountId: string, key: string, now: Date): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM tombstones WHERE account_id = ? AND key = ? AND expires_at > ?').get(String(accountId), String(key), now.getTime()) !== undefined;
  }

  async sweepTombstones(now: Date): Promise<number> {
    while (this.vac.busy) await this.vac.idle();
    return this.db.prepare('DELETE FROM tombstones WHERE expires_at <= ?').run(now.getTime()).changes;
  }

  vacuum(): Promise<{ ms: number }> {
    return this.vac.run();
  }

  warm(): void {
    this.visitorWriter.start();
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    await this.visitorWriter.close();
    await this.vac.close();
    if (this.db.open) this.db.close();
  }
}
