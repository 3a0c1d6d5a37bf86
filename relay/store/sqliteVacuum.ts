/**
 * VACUUM for the SQLite store, in a worker thread with its own connection.
 *
 * Why: `secure_delete` zeroes deleted cells, but a b-tree rebalance can leave an older copy of a
 * cell in another page's free space, and no pragma scrubs that. VACUUM rebuilds every page, and a
 * WAL checkpoint with TRUNCATE then leaves no old page image in the -wal file. VACUUM takes about
 * 250 ms on 50k visitors: on the main thread that would pause all relaying, so it runs here while
 * the store holds back its own writes (reads go on: WAL readers never wait for a writer).
 */
import type { Worker } from 'node:worker_threads';
import { closeSqliteWorker, startSqliteWorker } from './sqliteWorker.ts';

// Plain JS evaluated in the worker: no TypeScript loader needed there.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
db.pragma('temp_store = MEMORY'); // the rebuilt copy never touches a temp file on disk
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  try {
    const t0 = performance.now();
    db.exec('VACUUM');
    const [cp] = db.pragma('wal_checkpoint(TRUNCATE)');
    parentPort.postMessage({ ok: true, ms: performance.now() - t0, busy: cp ? cp.busy : 0 });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
});`;

export interface VacuumResult {
  ms: number;
}

export class SqliteVacuum {
  private worker?: Worker;
  private running?: Promise<VacuumResult>;
  /** A vacuum asked for while one runs: one more runs after it, for every such caller. */
  private next?: Promise<VacuumResult>;

  constructor(private file: string) {}

  /** Resolves while no vacuum runs (callers about to write on the main connection wait on it). */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => {});
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Runs a VACUUM that starts after this call; concurrent requests share one. */
  run(): Promise<VacuumResult> {
    if (!this.running) return this.start();
    this.next ??= this.running.catch(() => undefined).then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  private start(): Promise<VacuumResult> {
    const worker = this.ensureWorker();
    const p = new Promise<VacuumResult>((resolve, reject) => {
      const onMessage = (m: { ok: boolean; ms?: number; busy?: number; error?: string }) => {
        worker.off('error', onError);
        if (!m.ok) return reject(new Error(`vacuum failed: ${m.error}`));
        if (m.busy) return reject(new Error('vacuum done but the WAL could not be truncated (another connection is reading)'));
        resolve({ ms: m.ms ?? 0 });
      };
      const onError = (err: Error) => {
        worker.off('message', onMessage);
        this.worker = undefined;
        reject(err);
      };
      worker.once('message', onMessage);
      worker.once('error', onError);
      worker.postMessage('vacuum');
    });
    this.running = p;
    worker.ref(); // a vacuum under way keeps the process up; an idle worker does not
    const clear = () => {
      if (this.running === p) this.running = undefined;
      this.worker?.unref();
    };
    p.then(clear, clear);
    return p;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = startSqliteWorker(WORKER_SOURCE, { file: this.file });
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    await this.idle();
    await this.next?.catch(() => {});
    const w = this.worker;
    this.worker = undefined;
    if (w) await closeSqliteWorker(w);
  }
}
