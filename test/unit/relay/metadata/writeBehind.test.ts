/**
 * The write-behind and the metadata service on a real SQLite store (a fresh temp dir per test),
 * behind a small wrapper that can make visitor and activity writes fail (reject) or stall (never
 * answer until the test lets them).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createLogger } from '../../../../relay/log.ts';
import { MetadataService } from '../../../../relay/metadata/service.ts';
import { MAX_ABANDONED_WRITES, mergeUpdate, WriteBehind } from '../../../../relay/metadata/writeBehind.ts';
import { Metrics } from '../../../../relay/metrics.ts';
import { SqliteStore } from '../../../../relay/store/sqlite.ts';
import type { ActivityEvent, Store, VisitorUpdate } from '../../../../relay/store/types.ts';
import { until } from '../../../helpers/until.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];
type Mode = 'ok' | 'fail' | 'stall';

const log = createLogger('silent');
const ACC = 'acc_wb';
const OTHER = 'acc_wb_other';

/** Delegates to the real store; upsertVisitors/appendActivity can be switched to fail or stall. */
class SwitchableStore implements Store {
  mode: Mode = 'ok';
  /** Drops the tombstone key from upserts: a store whose write cannot check tombstones atomically (MongoDB's race window). */
  ignoreTombstones = false;
  /** Calls of each write method, whatever became of them. */
  calls = { upsertVisitors: 0, appendActivity: 0 };
  /** The batches that reached the real store. */
  upserted: VisitorUpdate[][] = [];
  private stalled: Array<{ go: () => void; fail: () => void }> = [];

  constructor(readonly inner: SqliteStore) {}
  get kind() {
    return this.inner.kind;
  }
  get stalledCount(): number {
    return this.stalled.length;
  }
  /** Lets every stalled write go on to the real store, or fail. */
  release(outcome: 'ok' | 'fail'): void {
    for (const s of this.stalled.splice(0)) (outcome === 'ok' ? s.go : s.fail)();
  }
  private gate<T>(write: () => Promise<T>): Promise<T> {
    if (this.mode === 'fail') return Promise.reject(new Error('injected: store unavailable'));
    if (this.mode === 'stall') {
      return new Promise<T>((resolve, reject) => {
        this.stalled.push({ go: () => write().then(resolve, reject), fail: () => reject(new Error('injected: stalled write failed')) });
      });
    }
    return write();
  }
  upsertVisitors(u: VisitorUpdate[]) {
    this.calls.upsertVisitors++;
    return this.gate(() => {
      this.upserted.push(u.map((x) => ({ ...x })));
      return this.inner.upsertVisitors(this.ignoreTombstones ? u.map(({ tombstoneKey: _k, ...x }) => x) : u);
    });
  }
  appendActivity(e: ActivityEvent[]) {
    this.calls.appendActivity++;
    return this.gate(() => this.inner.appendActivity(e));
  }
  createAccount: Store['createAccount'] = (a) => this.inner.createAccount(a);
  getAccountById: Store['getAccountById'] = (id) => this.inner.getAccountById(id);
  getAccountByPublicKey: Store['getAccountByPublicKey'] = (k) => this.inner.getAccountByPublicKey(k);
  getAccountByName: Store['getAccountByName'] = (n) => this.inner.getAccountByName(n);
  listAccounts: Store['listAccounts'] = () => this.inner.listAccounts();
  setAccountSecretHash: Store['setAccountSecretHash'] = (id, h) => this.inner.setAccountSecretHash(id, h);
  getVisitor: Store['getVisitor'] = (a, v) => this.inner.getVisitor(a, v);
  searchVisitors: Store['searchVisitors'] = (a, q) => this.inner.searchVisitors(a, q);
  deleteVisitors: Store['deleteVisitors'] = (a, f) => this.inner.deleteVisitors(a, f);
  sweepExpiredVisitors: Store['sweepExpiredVisitors'] = (n, r) => this.inner.sweepExpiredVisitors(n, r);
  listActivity: Store['listActivity'] = (a, q) => this.inner.listActivity(a, q);
  purgeActivity: Store['purgeActivity'] = (a, k) => this.inner.purgeActivity(a, k);
  sweepActivity: Store['sweepActivity'] = (before) => this.inner.sweepActivity(before);
  scrubActivity: Store['scrubActivity'] = (a, x) => this.inner.scrubActivity(a, x);
  addTombstones: Store['addTombstones'] = (x) => this.inner.addTombstones(x);
  hasTombstone: Store['hasTombstone'] = (a, k, n) => this.inner.hasTombstone(a, k, n);
  sweepTombstones: Store['sweepTombstones'] = (n) => this.inner.sweepTombstones(n);
  vacuum: Store['vacuum'] = () => this.inner.vacuum();
  ping: Store['ping'] = () => this.inner.ping();
  close: Store['close'] = () => this.inner.close();
}

async function setup(t: Test, maxPendingVisitors = 100, writeTimeoutMs?: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-wb-'));
  const sqlite = new SqliteStore(dir);
  const store = new SwitchableStore(sqlite);
  const metrics = new Metrics();
  const writer = new WriteBehind(store, metrics, log, maxPendingVisitors, writeTimeoutMs);
  const service = new MetadataService({
    store, metrics, log, secret: Buffer.from('0123456789abcdef0123456789abcdef'), retentionDays: 30, maxPendingVisitors, writeTimeoutMs,
  });
  t.teardown(async () => {
    store.release('fail');
    await sqlite.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // The store's visitor writes run on a worker thread that starts on the first one. A test with a
  // short write timeout (100-150 ms) must not spend it on that start: on a loaded CI machine the
  // first real write missed it and the test failed. One write of another account warms it.
  await sqlite.upsertVisitors([{ accountId: 'acc_wb_warm', visitorId: 'warm', lastSeen: new Date() }]);
  return { dir, sqlite, store, metrics, writer, service };
}

const flushed = (w: WriteBehind) => w.flush(Date.now(), true);
const tick = () => new Promise<void>((r) => setImmediate(r));
/** Waits (bounded) until the wrapper holds a stalled write. */
async function untilStalled(store: SwitchableStore, n = 1): Promise<void> {
  await until(() => store.stalledCount >= n, 5000, `${n} write(s) to reach the store`, 2);
}

t.test('mergeUpdate: defined fields win, lastSeen only moves forward', async (t) => {
  const a: VisitorUpdate = { accountId: ACC, visitorId: 'v', lastSeen: new Date(2000), ip: '1.1.1.1', userId: 'u' };
  const b: VisitorUpdate = { accountId: ACC, visitorId: 'v', lastSeen: new Date(1000), ip: '2.2.2.2', userId: undefined, name: 'N' };
  const m = mergeUpdate(a, b);
  t.same(m, { accountId: ACC, visitorId: 'v', lastSeen: new Date(2000), ip: '2.2.2.2', userId: 'u', name: 'N' }, 'merged');
  t.same(a, { accountId: ACC, visitorId: 'v', lastSeen: new Date(2000), ip: '1.1.1.1', userId: 'u' }, 'inputs untouched');
  t.same(mergeUpdate(undefined, b), b, 'nothing before: a copy of the update');
  t.not(mergeUpdate(undefined, b), b, 'a copy, not the same object');
});

t.test('coalescing: many touches of one visitor become one row write with the latest fields', async (t) => {
  const { store, writer, metrics, sqlite } = await setup(t);
  const t0 = Date.now() - 60_000;
  for (let i = 0; i < 200; i++) {
    writer.touch({
      accountId: ACC, visitorId: 'v1', lastSeen: new Date(t0 + i * 10), lastUrl: `https://shop.example.com/p/${i}`,
      ...(i === 50 ? { userId: 'u-1', email: 'ann@example.com' } : {}),
      ...(i === 120 ? { ip: '203.0.113.5' } : {}),
    });
  }
  // A late touch with an older time must not move lastSeen back.
  writer.touch({ accountId: ACC, visitorId: 'v1', lastSeen: new Date(t0), name: 'Ann' });
  for (let i = 0; i < 20; i++) writer.touch({ accountId: ACC, visitorId: `v-other-${i % 4}`, lastSeen: new Date(t0 + i) });
  t.equal(writer.pendingVisitors, 5, 'one pending update per visitor');
  t.equal(metrics.gauges.metadata_pending_visitors, 5, 'the gauge shows it');
  t.equal(store.calls.upsertVisitors, 0, 'touch does not write');

  await flushed(writer);
  t.equal(store.calls.upsertVisitors, 1, 'one store call for the whole flush');
  t.equal(store.upserted[0].length, 5, 'one row write per visitor');
  const v1Writes = store.upserted.flat().filter((u) => u.visitorId === 'v1');
  t.equal(v1Writes.length, 1, '200 touches of v1 = one row write');
  t.same(v1Writes[0], {
    accountId: ACC, visitorId: 'v1', lastSeen: new Date(t0 + 199 * 10), lastUrl: 'https://shop.example.com/p/199',
    userId: 'u-1', email: 'ann@example.com', ip: '203.0.113.5', name: 'Ann',
  }, 'the latest value of every field, lastSeen the newest');
  t.equal(metrics.counters.metadata_writes_total, 5, 'writes counted per row');
  const row = await sqlite.getVisitor(ACC, 'v1');
  t.equal(row?.lastUrl, 'https://shop.example.com/p/199', 'the row holds the last URL');
  t.equal(row?.userId, 'u-1', 'and the user id given in between');
  t.equal(row?.lastSeen.getTime(), t0 + 1990, 'and the newest lastSeen');
  t.equal(writer.pendingVisitors, 0, 'nothing left pending');
  t.equal(metrics.gauges.metadata_pending_visitors, 0);

  await flushed(writer);
  t.equal(store.calls.upsertVisitors, 1, 'an empty flush does not call the store');
});

t.test('a backlog drains batch after batch (drainBacklog), not one batch per flush tick; off, one batch per flush', async (t) => {
  const { store, writer, sqlite } = await setup(t, 10_000);
  const touchAll = (from: number) => {
    for (let i = 0; i < 1_200; i++) writer.touch({ accountId: ACC, visitorId: `storm-${from + i}`, lastSeen: new Date() });
  };
  touchAll(0);
  await flushed(writer);
  t.equal(store.calls.upsertVisitors, 1, 'off (the default): one flush writes one batch');
  t.equal(writer.pendingVisitors, 700, 'the rest waits for the next flush');
  await flushed(writer);
  await flushed(writer);

  writer.drainBacklog = true;
  touchAll(10_000);
  const callsBefore = store.calls.upsertVisitors;
  await flushed(writer); // the one flush a timer tick would make
  await until(() => writer.pendingVisitors === 0, 5_000, 'the backlog to drain without another flush call', 2);
  for (;;) { // the last batch may still be in the store
    const calls = store.calls.upsertVisitors;
    await flushed(writer);
    if (store.calls.upsertVisitors === calls) break;
  }
  t.equal(store.calls.upsertVisitors - callsBefore, 3, '1,200 rows in 3 store calls of at most 500, from one flush');
  t.ok(store.upserted.slice(-3).every((b) => b.length <= 500), 'batches stay bounded');
  t.ok(await sqlite.getVisitor(ACC, 'storm-11199'), 'the last row landed');
});

t.test('store failing: pending stays bounded, drops and failures are counted, everything pending lands on recovery', async (t) => {
  const { store, writer, metrics, sqlite } = await setup(t, 5);
  store.mode = 'fail';
  const now = Date.now();
  for (let i = 0; i < 8; i++) writer.touch({ accountId: ACC, visitorId: `v${i}`, lastSeen: new Date(now + i), userId: `u${i}` });
  t.equal(writer.pendingVisitors, 5, 'pending visitors capped at maxPendingVisitors');
  t.equal(metrics.counters.metadata_dropped_total, 3, 'the visitors that did not fit are counted as dropped');
  writer.touch({ accountId: ACC, visitorId: 'v0', lastSeen: new Date(now + 100), lastUrl: 'https://shop.example.com/later' });
  t.equal(writer.pendingVisitors, 5, 'a visitor already pending can still be updated at the bound');
  t.equal(metrics.counters.metadata_dropped_total, 3, 'and that is not a drop');

  await flushed(writer);
  t.equal(metrics.counters.metadata_write_failures_total, 1, 'a failed write is counted');
  t.equal(writer.pendingVisitors, 5, 'the failed batch is held again');
  await flushed(writer);
  await flushed(writer);
  t.equal(metrics.counters.metadata_write_failures_total, 3, 'every failed attempt counts');
  const calls = store.calls.upsertVisitors;
  await writer.flush(Date.now());
  t.equal(store.calls.upsertVisitors, calls, 'while backing off, an unforced flush does not call the store');
  for (let i = 8; i < 30; i++) writer.touch({ accountId: ACC, visitorId: `v${i}`, lastSeen: new Date(now + i) });
  t.equal(writer.pendingVisitors, 5, 'still bounded');
  t.equal(metrics.counters.metadata_dropped_total, 25, 'every visitor that did not fit is counted');
  t.equal(metrics.counters.metadata_writes_total, 0, 'nothing counted as written');
  t.equal(await sqlite.getVisitor(ACC, 'v0'), null, 'nothing reached the store');

  store.mode = 'ok';
  // A real write under the 150 ms timeout: a loaded machine may miss it once; the writer retries.
  for (let i = 0; i < 20 && (writer.pendingVisitors || writer.pendingActivity); i++) await flushed(writer);
  t.equal(writer.pendingVisitors, 0, 'after recovery nothing is pending');
  t.equal(metrics.gauges.metadata_pending_visitors, 0, 'gauge back to 0');
  t.equal(metrics.counters.metadata_writes_total, 5, 'the held writes are counted as written');
  const stored = (await sqlite.searchVisitors(ACC, { limit: 100 })).items;
  t.same(stored.map((v) => v.visitorId).sort(), ['v0', 'v1', 'v2', 'v3', 'v4'], 'exactly the held visitors landed');
  t.equal(stored.find((v) => v.visitorId === 'v0')?.lastUrl, 'https://shop.example.com/later', 'with their latest fields');
  t.equal(stored.find((v) => v.visitorId === 'v3')?.userId, 'u3');
  const failures = metrics.counters.metadata_write_failures_total;
  writer.touch({ accountId: ACC, visitorId: 'v0', lastSeen: new Date(now + 200) });
  await writer.flush(Date.now());
  t.equal(writer.pendingVisitors, 0, 'after a success the backoff is reset: an unforced flush writes');
  t.equal(metrics.counters.metadata_write_failures_total, failures, 'no new failure');
});

t.test('store failing: activity is held, never dropped, and all of it lands on recovery', async (t) => {
  const { store, writer, metrics, sqlite } = await setup(t);
  store.mode = 'fail';
  const base = Date.now();
  for (let i = 0; i < 10_005; i++) writer.record({ accountId: ACC, at: new Date(base + i), type: 'session_requested', agentId: `a${i}` });
  // Bounding is the job of the client budgets (refused at the source), never of dropping entries.
  t.equal(writer.pendingActivity, 10_005, 'every entry is held');
  t.equal(metrics.counters.metadata_dropped_total, 0, 'nothing is dropped to make room');
  await flushed(writer);
  t.equal(metrics.counters.metadata_write_failures_total, 1, 'a failed activity write is counted');
  t.equal(writer.pendingActivity, 10_005, 'the failed batch is held again, whole');
  t.equal(metrics.gauges.metadata_pending_activity, 10_005, 'the gauge shows it');

  store.mode = 'ok';
  for (let i = 0; i < 40 && writer.pendingActivity > 0; i++) await flushed(writer);
  t.equal(writer.pendingActivity, 0, 'everything pending landed (in batches)');
  const got = [];
  let cursor: string | undefined;
  do {
    const page = await sqlite.listActivity(ACC, { limit: 5000, cursor });
    got.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  t.equal(got.length, 10_005, 'every held entry is in the store');
  t.equal(new Set(got.map((e) => e.agentId)).size, 10_005, 'each once');
  t.ok(got.some((e) => e.agentId === 'a0'), 'the oldest too');
});

t.test('a write failing while new touches arrive: the newer update wins, the bound holds', async (t) => {
  const { store, writer, metrics, sqlite } = await setup(t, 5);
  store.mode = 'stall';
  const now = Date.now();
  for (let i = 0; i < 5; i++) writer.touch({ accountId: ACC, visitorId: `v${i}`, lastSeen: new Date(now + i), lastUrl: 'https://shop.example.com/old' });
  const inFlight = flushed(writer);
  await untilStalled(store);
  t.equal(writer.pendingVisitors, 0, 'the batch is out (in flight)');
  writer.touch({ accountId: ACC, visitorId: 'v0', lastSeen: new Date(now + 100), lastUrl: 'https://shop.example.com/new' });
  for (let i = 0; i < 3; i++) writer.touch({ accountId: ACC, visitorId: `n${i}`, lastSeen: new Date(now + 50 + i) });
  t.equal(writer.pendingVisitors, 4, 'new touches are accepted meanwhile');
  store.release('fail');
  await inFlight;
  t.equal(metrics.counters.metadata_write_failures_total, 1, 'the failure is counted');
  t.equal(writer.pendingVisitors, 5, 'putting the batch back respects the bound');
  t.equal(metrics.counters.metadata_dropped_total, 3, 'what did not fit back is counted as dropped');
  store.mode = 'ok';
  await flushed(writer);
  const v0 = await sqlite.getVisitor(ACC, 'v0');
  t.equal(v0?.lastUrl, 'https://shop.example.com/new', 'the update that arrived during the failed write wins over the old batch');
  t.equal(v0?.lastSeen.getTime(), now + 100);
  t.equal((await sqlite.searchVisitors(ACC, { limit: 100 })).items.length, 5, 'exactly the held updates landed');
});

t.test('store stalling: the write times out, is counted and retried, and lands on recovery', async (t) => {
  const { store, writer, metrics, sqlite } = await setup(t, 100, 150);
  // Keep the event loop alive: the writer's timeout timer is unref'd.
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  store.mode = 'stall';
  writer.touch({ accountId: ACC, visitorId: 'v1', lastSeen: new Date(), userId: 'u-stall' });
  writer.record({ accountId: ACC, at: new Date(), type: 'session_requested', agentId: 'alice' });
  const started = Date.now();
  await flushed(writer);
  const took = Date.now() - started;
  t.ok(took >= 140 && took < 5000, `the flush gave up after the write timeout (${took} ms)`);
  t.equal(metrics.counters.metadata_write_failures_total, 1, 'a stalled write counts as a failure');
  t.equal(writer.pendingVisitors, 1, 'the update is held for a retry');
  t.equal(writer.pendingActivity, 1, 'and the activity entry');
  await flushed(writer);
  t.equal(metrics.counters.metadata_write_failures_total, 2, 'the retry stalls too, and is counted');
  t.equal(store.stalledCount, 2, 'two writes still hanging in the store');

  store.mode = 'ok';
  // A real write under the 150 ms timeout: a loaded machine may miss it once; the writer retries.
  for (let i = 0; i < 20 && (writer.pendingVisitors || writer.pendingActivity); i++) await flushed(writer);
  t.equal(writer.pendingVisitors, 0, 'after recovery nothing is pending');
  t.equal(writer.pendingActivity, 0);
  t.equal((await sqlite.getVisitor(ACC, 'v1'))?.userId, 'u-stall', 'the held update landed');
  t.equal((await sqlite.listActivity(ACC, { limit: 10 })).items.length, 1, 'the activity entry landed, once');
});

t.test('a store that never answers: timed-out writes do not pile up past the bound', async (t) => {
  const { store, writer, metrics, sqlite } = await setup(t, 100, 20);
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  store.mode = 'stall';
  writer.touch({ accountId: ACC, visitorId: 'v1', lastSeen: new Date() });
  for (let i = 0; i < MAX_ABANDONED_WRITES + 5; i++) await flushed(writer);
  t.equal(store.calls.upsertVisitors, MAX_ABANDONED_WRITES, `at most ${MAX_ABANDONED_WRITES} writes hang in the store`);
  t.equal(metrics.gauges.metadata_abandoned_writes, MAX_ABANDONED_WRITES, 'shown in /metrics');
  t.equal(writer.pendingVisitors, 1, 'the update is still held');
  store.mode = 'ok';
  store.release('ok');
  await until(() => metrics.gauges.metadata_abandoned_writes === 0, 5000, 'the abandoned writes to settle', 2);
  t.equal(metrics.gauges.metadata_abandoned_writes, 0, 'they settle');
  await flushed(writer);
  t.equal(writer.pendingVisitors, 0, 'and writing resumes');
  t.ok(await sqlite.getVisitor(ACC, 'v1'));
});

t.test('MetadataService.deleteVisitors leaves nothing in the store or pending; a later touch does not recreate it', async (t) => {
  const { store, sqlite, service, metrics } = await setup(t);
  service.touch({ accountId: ACC, visitorId: 'v1', ip: '192.0.2.1', userId: 'u-keep' });
  service.touch({ accountId: ACC, visitorId: 'v2', userId: 'u-1', email: 'u1@example.com' });
  service.touch({ accountId: ACC, visitorId: 'v3', email: 'Mixed@Example.com' });
  service.touch({ accountId: ACC, visitorId: 'keep', userId: 'u-keep' });
  service.touch({ accountId: OTHER, visitorId: 'v1', userId: 'u-1' });
  await flushed(service.writer);
  t.equal((await sqlite.searchVisitors(ACC, { limit: 100 })).items.length, 4, 'four visitors stored');
  // Pending only (never written), and pending on top of a stored row.
  service.touch({ accountId: ACC, visitorId: 'v4', userId: 'u-1' });
  service.touch({ accountId: ACC, visitorId: 'v5', email: 'MIXED@example.com' });
  service.touch({ accountId: ACC, visitorId: 'v1', lastUrl: 'https://shop.example.com/after' });
  t.equal(service.writer.pendingVisitors, 3);

  const ids = await service.deleteVisitors(ACC, { visitorIds: ['v1'], userIds: ['u-1'], emails: ['mixed@example.com'] });
  t.same([...ids].sort(), ['v1', 'v2', 'v3', 'v4', 'v5'], 'the ids deleted, stored or pending');
  for (const id of ['v1', 'v2', 'v3', 'v4', 'v5']) {
    t.equal(await sqlite.getVisitor(ACC, id), null, `${id}: not in the store`);
    t.notOk(service.writer.hasPending(ACC, id), `${id}: nothing pending`);
    t.ok(service.isDeleted(ACC, id), `${id}: tombstoned`);
  }
  t.ok(await sqlite.getVisitor(ACC, 'keep'), 'a visitor not matched stays');
  t.equal((await sqlite.getVisitor(OTHER, 'v1'))?.userId, 'u-1', "the same ids and user id in another account are untouched");
  t.equal(metrics.counters.visitors_deleted_total, 5, 'counted');

  for (const id of ['v1', 'v2', 'v4', 'v5']) service.touch({ accountId: ACC, visitorId: id, lastUrl: 'https://shop.example.com/back' });
  t.equal(service.writer.pendingVisitors, 0, 'touches of deleted visitors are not queued');
  await flushed(service.writer);
  for (const id of ['v1', 'v2', 'v4', 'v5']) t.equal(await sqlite.getVisitor(ACC, id), null, `${id}: not recreated`);
  service.touch({ accountId: OTHER, visitorId: 'v2', userId: 'x' });
  t.equal(service.writer.pendingVisitors, 1, 'the tombstone is per account');

  const log = (await sqlite.listActivity(ACC, { limit: 10, type: 'data_deleted' })).items;
  t.equal(log.length, 1, 'the deletion is in the activity log');
  t.equal(log[0]?.detail, '5 visitor(s) deleted by admin');
  t.equal(store.calls.appendActivity, 1, 'written with the next flush');
  t.same(await service.deleteVisitors(ACC, { visitorIds: ['v1'] }), [], 'deleting again: nothing left to delete');
  t.same(await service.deleteVisitors(ACC, {}), [], 'an empty filter deletes nothing');
  t.ok(await sqlite.getVisitor(ACC, 'keep'), 'still there');
});

t.test('deleteVisitors while a flush is in flight (the write then succeeds)', async (t) => {
  for (const by of ['visitorIds', 'userIds'] as const) {
    t.test(`by ${by}`, async (t) => {
      const { store, sqlite, service } = await setup(t);
      store.ignoreTombstones = true; // as on MongoDB: the in-flight write lands despite the tombstone
      store.mode = 'stall';
      service.touch({ accountId: ACC, visitorId: 'v1', userId: 'u-race', lastUrl: 'https://shop.example.com/1' });
      service.touch({ accountId: ACC, visitorId: 'bystander', userId: 'u-other' });
      const flushing = flushed(service.writer);
      await untilStalled(store);
      t.equal(service.writer.pendingVisitors, 0, 'the update is in flight, not pending');
      const deleting = service.deleteVisitors(ACC, by === 'visitorIds' ? { visitorIds: ['v1'] } : { userIds: ['u-race'] }, ['v1']);
      // A heartbeat from the still-open tab while the deletion waits.
      service.touch({ accountId: ACC, visitorId: 'v1', lastUrl: 'https://shop.example.com/2' });
      await tick();
      store.mode = 'ok';
      store.release('ok');
      await flushing;
      t.same(await deleting, ['v1'], 'the visitor written by the in-flight flush is deleted');
      t.equal(await sqlite.getVisitor(ACC, 'v1'), null, 'not in the store');
      t.notOk(service.writer.hasPending(ACC, 'v1'), 'not pending');
      service.touch({ accountId: ACC, visitorId: 'v1', userId: 'u-race' });
      await flushed(service.writer);
      t.equal(await sqlite.getVisitor(ACC, 'v1'), null, 'a touch after the deletion does not recreate it');
      t.ok(await sqlite.getVisitor(ACC, 'bystander'), 'the other visitor of that flush was written');
    });
  }
});

t.test('erasing a live visitor whose first write is in flight and then refused by the tombstone: counted and logged', async (t) => {
  const { store, sqlite, service, metrics } = await setup(t);
  store.mode = 'stall';
  service.touch({ accountId: ACC, visitorId: 'v-new', ip: '203.0.113.7' });
  const flushing = flushed(service.writer);
  await untilStalled(store);
  // The tombstone goes in first; the stalled write reaches SQLite only after it, and its own
  // transaction refuses the row: nothing is stored, nothing is pending, yet the visitor was live.
  const deleting = service.deleteVisitors(ACC, { visitorIds: ['v-new'] }, ['v-new'], 'the visitor');
  await until(() => sqlite.hasTombstone(ACC, service.tombstoneKeyOf(ACC, 'v-new'), new Date()), 5000, 'the tombstone', 2);
  store.mode = 'ok';
  store.release('ok');
  await flushing;
  t.same(await deleting, ['v-new'], 'the live visitor is reported deleted');
  t.equal(await sqlite.getVisitor(ACC, 'v-new'), null, 'its row was never written');
  t.equal(metrics.counters.visitors_deleted_total, 1, 'counted');
  for (let i = 0; i < 5 && service.writer.pendingActivity > 0; i++) await flushed(service.writer);
  const log = (await sqlite.listActivity(ACC, { limit: 10 })).items;
  t.equal(log.filter((e) => e.type === 'data_deleted' && e.detail?.endsWith('by the visitor')).length, 1, 'and logged');
});

t.test('deleteVisitors while a flush is in flight (the write then fails): nothing comes back later', async (t) => {
  for (const by of ['visitorIds', 'userIds'] as const) {
    t.test(`by ${by}`, async (t) => {
      const { store, sqlite, service } = await setup(t);
      store.mode = 'stall';
      service.touch({ accountId: ACC, visitorId: 'v1', userId: 'u-race' });
      service.touch({ accountId: ACC, visitorId: 'bystander', userId: 'u-other' });
      const flushing = flushed(service.writer);
      await untilStalled(store);
      const deleting = service.deleteVisitors(ACC, by === 'visitorIds' ? { visitorIds: ['v1'] } : { userIds: ['u-race'] });
      await tick();
      store.release('fail');
      await flushing;
      const ids = await deleting;
      t.same(ids, ['v1'], 'the visitor whose write was under way counts as deleted');
      t.notOk(service.writer.hasPending(ACC, 'v1'), 'the failed batch did not put it back');
      t.ok(service.writer.hasPending(ACC, 'bystander'), 'the other visitor of that batch is held for a retry');
      store.mode = 'ok';
      await flushed(service.writer);
      t.equal(await sqlite.getVisitor(ACC, 'v1'), null, 'the retry does not recreate the deleted visitor');
      t.ok(await sqlite.getVisitor(ACC, 'bystander'), 'the other visitor lands');
      service.touch({ accountId: ACC, visitorId: 'v1', userId: 'u-race' });
      await flushed(service.writer);
      t.equal(await sqlite.getVisitor(ACC, 'v1'), null, 'nor does a later touch');
    });
  }
});

t.test('a write that timed out lands after a deletion (MongoDB does not cancel it): it is erased again', async (t) => {
  for (const by of ['visitorIds', 'userIds', 'emails', 'allOffline'] as const) {
    t.test(`by ${by}`, async (t) => {
      const { dir, store, sqlite, service, metrics } = await setup(t, 100, 100);
      const keepAlive = setInterval(() => {}, 1000); // the writer's timeout timer is unref'd
      t.teardown(() => clearInterval(keepAlive));
      store.ignoreTombstones = true; // as on MongoDB, where the upsert cannot check tombstones in the same write
      // v1 already has a row (identified earlier); its next write carries the email and stalls. The row is
      // written straight to the store: through the write-behind it would be a write under this test's
      // 100 ms timeout, which a loaded machine can miss while the store's writer thread starts (CI did).
      await sqlite.upsertVisitors([{ accountId: ACC, visitorId: 'v1', lastSeen: new Date(), userId: 'u-late', lastUrl: 'https://shop.example.com/1' }]);
      store.mode = 'stall';
      service.touch({ accountId: ACC, visitorId: 'v1', email: 'late@example.com', lastUrl: 'https://shop.example.com/2' });
      // v2 was never written: its first write (with its user id) stalls too.
      service.touch({ accountId: ACC, visitorId: 'v2', userId: 'u-late', email: 'late@example.com' });
      await flushed(service.writer);
      t.equal(metrics.counters.metadata_write_failures_total, 1, 'the write timed out and was given up on');
      t.equal(store.stalledCount, 1, 'but it is still hanging in the store');
      t.equal(service.writer.pendingVisitors, 2, 'its updates are held for a retry');

      const filter = by === 'visitorIds' ? { visitorIds: ['v1', 'v2'] } : by === 'userIds' ? { userIds: ['u-late'] } : by === 'emails' ? { emails: ['LATE@example.com'] } : { allExcept: ['bystander'] };
      const ids = await service.deleteVisitors(ACC, filter);
      t.ok(ids.includes('v1'), `v1 deleted (${ids.join(',')})`);
      t.equal(await sqlite.getVisitor(ACC, 'v1'), null, 'v1 is gone from the store');
      t.notOk(service.writer.hasPending(ACC, 'v2'), 'v2 is not pending any more');

      // The abandoned write now lands in the real store, re-creating both rows...
      store.mode = 'ok';
      const landed = store.upserted.length;
      store.release('ok');
      await until(() => metrics.counters.metadata_late_writes_total > 0, 5000, 'the late write to land', 2);
      t.equal(store.upserted.length, landed + 1, 'the late write reached the store');
      await until(() => metrics.counters.metadata_late_writes_erased_total >= 2, 5000, 'both re-created rows erased', 2);
      // ...and what it re-created is erased again.
      t.equal(metrics.counters.metadata_late_writes_erased_total, 2, 'both re-created rows erased');
      t.equal(await sqlite.getVisitor(ACC, 'v1'), null, 'v1 stays deleted');
      t.equal(await sqlite.getVisitor(ACC, 'v2'), null, 'v2 stays deleted');
      t.ok(service.isDeleted(ACC, 'v2'), 'and is tombstoned: its tab cannot re-create it');
      service.touch({ accountId: ACC, visitorId: 'v2', userId: 'u-late' });
      await flushed(service.writer);
      t.equal(await sqlite.getVisitor(ACC, 'v2'), null, 'a later touch does not bring it back');
      const raw = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f)));
      t.notOk(raw.some((b) => b.includes('late@example.com')), 'the email is in no byte of the SQLite files');
    });
  }
  t.test('a late write of a visitor nobody deleted is kept', async (t) => {
    const { store, sqlite, service, metrics } = await setup(t, 100, 100);
    const keepAlive = setInterval(() => {}, 1000);
    t.teardown(() => clearInterval(keepAlive));
    store.ignoreTombstones = true; // as on MongoDB
    store.mode = 'stall';
    service.touch({ accountId: ACC, visitorId: 'keep', userId: 'u-keep' });
    service.touch({ accountId: ACC, visitorId: 'gone', userId: 'u-gone' });
    await flushed(service.writer);
    await service.deleteVisitors(ACC, { userIds: ['u-gone'] });
    await service.deleteVisitors(OTHER, { allExcept: [] }); // another account's deletion covers nothing here
    store.mode = 'ok';
    store.release('ok');
    await until(() => metrics.counters.metadata_late_writes_total > 0, 5000, 'the late write to land', 2);
    await until(() => metrics.counters.metadata_late_writes_erased_total >= 1, 5000, 'the late write erased again', 2);
    t.equal((await sqlite.getVisitor(ACC, 'keep'))?.userId, 'u-keep', 'the visitor nobody deleted stays');
    t.equal(await sqlite.getVisitor(ACC, 'gone'), null, 'the deleted one does not');
    t.equal(metrics.counters.metadata_late_writes_erased_total, 1);
  });
});

t.test('an activity append that timed out and landed late is not duplicated by its retry', async (t) => {
  const { store, sqlite, service, metrics } = await setup(t, 100, 100);
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  store.mode = 'stall';
  service.activity(ACC, 'session_requested', { agentId: 'alice', visitorId: 'v1' });
  service.activity(ACC, 'consent_given', { agentId: 'alice', visitorId: 'v1' });
  await flushed(service.writer);
  t.equal(metrics.counters.metadata_write_failures_total, 1, 'the append timed out');
  t.equal(service.writer.pendingActivity, 2, 'and is held for a retry');
  store.mode = 'ok';
  store.release('ok'); // the first attempt lands after all...
  await flushed(service.writer); // ...and so does the retry
  for (let i = 0; i < 20; i++) await tick();
  t.equal(store.calls.appendActivity, 2, 'two appends reached the store');
  const items = (await sqlite.listActivity(ACC, { limit: 10 })).items;
  t.same(items.map((e) => e.type).sort(), ['consent_given', 'session_requested'], 'each entry once');
});

t.test('activity: email-like user ids are masked, the raw email is not in the file, purge by user key', async (t) => {
  const { dir, sqlite, service, store } = await setup(t);
  const raw = 'john.smith@example.com';
  service.activity(ACC, 'session_requested', { agentId: 'agent-7', visitorId: 'v1', userId: raw });
  service.activity(ACC, 'consent_given', { visitorId: 'v1', userId: raw });
  service.activity(ACC, 'session_requested', { agentId: 'agent-7', visitorId: 'v2', userId: 'mary@example.org' });
  service.activity(ACC, 'session_ended', { agentId: 'agent-7', visitorId: 'v3', userId: 'customer-123' });
  service.activity(OTHER, 'session_requested', { agentId: 'agent-9', visitorId: 'v1', userId: raw });
  await flushed(service.writer);
  t.equal(store.calls.appendActivity, 1, 'one batch');

  const items = (await sqlite.listActivity(ACC, { limit: 10 })).items;
  t.equal(items.length, 4);
  const john = items.filter((e) => e.visitorId === 'v1');
  t.equal(john.length, 2);
  t.ok(john.every((e) => e.userId === 'j***@example.com'), 'stored masked: j***@example.com');
  t.ok(john.every((e) => e.userKey === service.userKeyOf(ACC, raw)), 'with the keyed hash of the raw id');
  t.notOk(john.some((e) => e.userKey?.includes('john')), 'the key does not reveal the id');
  t.equal(items.find((e) => e.visitorId === 'v2')?.userId, 'm***@example.org', 'another email, masked');
  t.equal(items.find((e) => e.visitorId === 'v3')?.userId, 'customer-123', 'an id that is not an email is kept');
  t.not(service.userKeyOf(ACC, raw), service.userKeyOf(OTHER, raw), 'user keys differ per account');

  await sqlite.ping();
  const bytes = () => Buffer.concat(fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f))));
  t.ok(bytes().includes('j***@example.com'), 'the masked id is in the file (sanity check of the byte scan)');
  t.notOk(bytes().includes(raw), 'the raw email is nowhere in the SQLite files (db, WAL, SHM)');
  t.notOk(bytes().includes('john.smith'), 'nor its local part');
  t.notOk(bytes().includes('mary@'), 'nor the other email');

  t.equal(await sqlite.purgeActivity(ACC, service.userKeyOf(ACC, raw)), 2, 'purge by the user key of the raw id removes both entries');
  const left = (await sqlite.listActivity(ACC, { limit: 10 })).items;
  t.same(left.map((e) => e.visitorId).sort(), ['v2', 'v3'], 'just those');
  t.equal((await sqlite.listActivity(OTHER, { limit: 10 })).items.length, 1, "the other account's entry for the same person stays");
  t.equal(await sqlite.purgeActivity(ACC, service.userKeyOf(ACC, raw)), 0, 'a second purge finds nothing');
  t.equal(await sqlite.purgeActivity(ACC, service.userKeyOf(ACC, 'John.Smith@example.com')), 0, 'the key is of the exact id');
  t.notOk(bytes().includes(service.userKeyOf(ACC, raw)), 'after the purge the key is gone from the file bytes too (secure_delete + WAL truncate)');
});

t.test('MetadataService.stop flushes what is pending', async (t) => {
  const { sqlite, service } = await setup(t, 5000);
  for (let i = 0; i < 1200; i++) service.touch({ accountId: ACC, visitorId: `s${i}` });
  service.activity(ACC, 'session_requested', { agentId: 'a' });
  await service.stop();
  t.equal(service.writer.pendingVisitors, 0, 'nothing pending after stop');
  t.equal(service.writer.pendingActivity, 0);
  t.equal((await sqlite.searchVisitors(ACC, { limit: 2000 })).items.length, 1200, 'every visitor written (more than one batch)');
});

t.test('MetadataService.stop gives up on a failing store instead of spinning', async (t) => {
  const { store, service, metrics } = await setup(t);
  store.mode = 'fail';
  service.touch({ accountId: ACC, visitorId: 'x' });
  await service.stop();
  t.equal(metrics.counters.metadata_write_failures_total, 1, 'one attempt, then stop returns');
  t.equal(service.writer.pendingVisitors, 1, 'the update is still held (not silently lost)');
});
