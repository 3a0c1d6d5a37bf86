/**
 * The SQLite store's visitor upserts, in a worker thread with its own connection.
 *
 * Why: a batch of 500 visitor rows is a few ms of CPU on a quiet machine and tens to hundreds on a
 * busy one; on the main thread that stalled every socket of the relay, and a connect storm (every
 * visitor is a new row for a restarted relay) is exactly when batches come back to back. Here the
 * relay's event loop only posts the rows. WAL lets the main connection go on reading meanwhile;
 * writes on either connection wait for the other's (busy_timeout), and the upsert's own tombstone
 * check runs inside its transaction, so a deletion on the main connection is never overtaken.
 */
import type { Worker } from 'node:worker_threads';
import { closeSqliteWorker, startSqliteWorker } from './sqliteWorker.ts';
import type { VisitorUpdate } from './types.ts';

/** COALESCE keeps a stored field when the update leaves it undefined (bound as NULL). */
export const UPSERT_VISITOR_SQL = `
  INSERT INTO visitors (account_id, visitor_id, ip, last_url, first_seen, last_seen, user_id, name, email, lookup_code, lookup_code_expires_at)
  SELECT @accountId, @visitorId, COALESCE(@ip, ''), COALESCE(@lastUrl, ''), @lastSeen, @lastSeen, @userId, @name, @email, @lookupCode, @lookupCodeExpiresAt
  -- A tombstoned visitor is neither re-created nor updated: checked in this same write, so no
  -- other connection (the main one, another relay on this file) can slip a deletion in between.
  WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE account_id = @accountId AND key = @tombstoneKey AND expires_at > @lastSeen)
  ON CONFLICT (account_id, visitor_id) DO UPDATE SET
    ip = COALESCE(@ip, ip),
    last_url = COALESCE(@lastUrl, last_url),
    last_seen = MAX(last_seen, @lastSeen),
    user_id = COALESCE(@userId, user_id),
    name = COALESCE(@name, name),
    email = COALESCE(@email, email),
    lookup_code = COALESCE(@lookupCode, lookup_code),
    lookup_code_expires_at = COALESCE(@lookupCodeExpiresAt, lookup_code_expires_at)`;

/** One visitor update as the statement binds it: plain values (no Date), cheap to post to the worker. */
export type VisitorRowParams = ReturnType<typeof rowParams>;

export function rowParams(u: VisitorUpdate) {
  return {
    accountId: u.accountId,
    visitorId: u.visitorId,
    lastSeen: u.lastSeen.getTime(),
    ip: u.ip ?? null,
    lastUrl: u.lastUrl ?? null,
    userId: u.userId ?? null,
    name: u.name ?? null,
    email: u.email ?? null,
    lookupCode: u.lookupCode ?? null,
    lookupCodeExpiresAt: u.lookupCodeExpiresAt?.getTime() ?? null,
    tombstoneKey: u.tombstoneKey ?? null,
  };
}

/** The writer connection's pragmas (the store bench opens its connection with the same). */
export const WRITER_PRAGMAS = [
  'busy_timeout = 5000',
  'secure_delete = ON', // a row an update rewrites leaves no old bytes behind
];

// Plain JS evaluated in the worker: no TypeScript loader needed there. Errors are answered, never
// thrown: a failed batch is retried by the write-behind, as any store failure is.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
for (const p of workerData.pragmas) db.pragma(p);
const stmt = db.prepare(workerData.sql);
const run = db.transaction((rows) => { for (const r of rows) stmt.run(r); });
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  try {
    run(m.rows);
    parentPort.postMessage({ id: m.id, ok: true });
  } catch (err) {
    parentPort.postMessage({ id: m.id, ok: false, error: String((err && err.message) || err) });
  }
});`;

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
}

export class SqliteVisitorWriter {
  private worker?: Worker;
  private nextId = 1;
  private pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private underWay = new Set<Promise<void>>();

  constructor(private file: string) {}

  /** Upserts the rows in one transaction on the worker's connection; resolves once committed. */
  write(updates: VisitorUpdate[]): Promise<void> {
    if (updates.length === 0) return Promise.resolve();
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.ref(); // a write under way keeps the process up; an idle worker does not
    worker.postMessage({ id, rows: updates.map(rowParams) });
    this.underWay.add(done);
    const settled = () => this.underWay.delete(done);
    done.then(settled, settled);
    return done;
  }

  /** Starts the worker now, not at the first write (which would pay its start-up: ~40 ms of CPU). */
  start(): void {
    this.ensureWorker();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    // Its garbage is one batch at a time (~150 KB): a small young generation is plenty (V8 would grow it to tens of MB).
    const w = startSqliteWorker(WORKER_SOURCE, { file: this.file, sql: UPSERT_VISITOR_SQL, pragmas: WRITER_PRAGMAS }, { maxYoungGenerationSizeMb: 4 });
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.ok) p.resolve();
      else p.reject(new Error(`visitor write failed: ${m.error}`));
    });
    // A worker that dies (it cannot open the file, say) fails what it held; the next write starts another.
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`visitor writer exited (${code})`)));
    this.worker = w;
    return w;
  }

  /** Waits for the writes under way, then closes the worker's connection. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.underWay]);
    const w = this.worker;
    this.worker = undefined;
    if (w) await closeSqliteWorker(w);
  }
}
