/**
 * What the SQLite store's worker threads share (sqliteVacuum.ts, sqliteVisitorWriter.ts): each
 * evaluates plain JS that opens its own connection with the same driver, and each is closed the
 * same way.
 */
import { createRequire } from 'node:module';
import { Worker, type ResourceLimits } from 'node:worker_threads';

/** A worker running `source` (plain JS: no TypeScript loader there), given the driver's path and `data`. Unref'd: idle, it never keeps the process alive. */
export function startSqliteWorker(source: string, data: Record<string, unknown>, resourceLimits?: ResourceLimits): Worker {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const w = new Worker(source, { eval: true, workerData: { driver, ...data }, resourceLimits });
  w.unref();
  return w;
}

/** Asks the worker to close its connection ('close') and waits until it has exited. */
export async function closeSqliteWorker(w: Worker): Promise<void> {
  const exited = new Promise<void>((r) => w.once('exit', () => r()));
  w.ref(); // keep the process up until the worker has closed its connection
  w.postMessage('close');
  await exited;
}
