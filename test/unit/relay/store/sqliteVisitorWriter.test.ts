/**
 * The SQLite store's visitor upserts run in a worker thread (relay/store/sqliteVisitorWriter.ts), on
 * real files: rows land and read back on the main connection, a tombstone still refuses a row, the
 * event loop keeps turning while a large batch is written, a worker that cannot open its file fails
 * the write with a clear error (and the next write too, never a hang), and close waits for a write
 * under way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SqliteStore } from '../../../../relay/store/sqlite.ts';
import { SqliteVisitorWriter } from '../../../../relay/store/sqliteVisitorWriter.ts';
import type { VisitorUpdate } from '../../../../relay/store/types.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];
const ACC = 'acc_writer';

function setup(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-writer-'));
  const store = new SqliteStore(dir);
  t.teardown(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store };
}

const rows = (n: number, from = 0): VisitorUpdate[] =>
  Array.from({ length: n }, (_, i) => ({ accountId: ACC, visitorId: `v${from + i}`, lastSeen: new Date(), ip: '203.0.113.9', tombstoneKey: `k${from + i}` }));

t.test('rows written by the worker read back on the main connection; updates merge; a tombstone refuses', async (t) => {
  const { store } = setup(t);
  await store.upsertVisitors([{ accountId: ACC, visitorId: 'a', lastSeen: new Date(1_000), ip: '198.51.100.1', tombstoneKey: 'ka' }]);
  await store.upsertVisitors([{ accountId: ACC, visitorId: 'a', lastSeen: new Date(2_000), lastUrl: 'https://shop.example.com/x', tombstoneKey: 'ka' }]);
  const a = await store.getVisitor(ACC, 'a');
  t.equal(a?.ip, '198.51.100.1', 'a field the later update left out is kept');
  t.equal(a?.lastUrl, 'https://shop.example.com/x');
  t.equal(a?.lastSeen.getTime(), 2_000, 'last seen moved forward');
  t.equal(a?.firstSeen.getTime(), 1_000, 'first seen kept');

  await store.addTombstones([{ accountId: ACC, key: 'kb', expiresAt: new Date(Date.now() + 60_000) }]);
  await store.upsertVisitors([{ accountId: ACC, visitorId: 'b', lastSeen: new Date(), tombstoneKey: 'kb' }]);
  t.equal(await store.getVisitor(ACC, 'b'), null, 'a tombstoned visitor is not re-created by the worker');
});

t.test('the event loop keeps turning while the worker writes a large batch', async (t) => {
  const { store } = setup(t);
  let turns = 0;
  const ticker = setInterval(() => turns++, 1);
  t.teardown(() => clearInterval(ticker));
  await store.upsertVisitors(rows(1)); // the worker is started
  const before = turns;
  const n = 20_000;
  await store.upsertVisitors(rows(n, 1));
  const during = turns - before;
  clearInterval(ticker);
  t.comment(`${during} timer turns while ${n} rows were written`);
  t.ok(during >= 3, `timers ran while the rows were written (${during} turns): the write is not on this thread`);
  t.equal((await store.searchVisitors(ACC, { limit: 1 })).items.length, 1);
  t.ok(await store.getVisitor(ACC, `v${n}`), 'the last row landed');
});

t.test('a worker that cannot open its file fails the write with a clear error, and the next one too', async (t) => {
  const missing = path.join(os.tmpdir(), `cobrowse-no-such-dir-${process.pid}`, 'x', 'cobrowse.sqlite');
  const w = new SqliteVisitorWriter(missing);
  t.teardown(() => w.close());
  await t.rejects(w.write(rows(1)), /unable to open|exited|directory does not exist/i, 'rejected, not hung');
  await t.rejects(w.write(rows(1)), /unable to open|exited|directory does not exist/i, 'a second write starts a new worker and fails the same way');
});

t.test('close waits for a write under way; the rows are there after it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-writer-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore(dir);
  const writing = store.upsertVisitors(rows(5_000));
  await store.close();
  await writing;
  const again = new SqliteStore(dir);
  t.teardown(() => again.close());
  t.ok(await again.getVisitor(ACC, 'v4999'), 'the write under way at close landed');
});
