/**
 * Retention: visitor metadata is removed RETENTION_DAYS (default 30) after the visitor's last
 * activity. On SQLite the metadata service's sweep does it (MongoDB's TTL index does it there;
 * see test/unit/relay/store/mongoDocs.test.ts). Time is driven with the service's `now` clock, never by waiting.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig } from '../../../../relay/config.ts';
import { createLogger } from '../../../../relay/log.ts';
import { MetadataService } from '../../../../relay/metadata/service.ts';
import { Metrics } from '../../../../relay/metrics.ts';
import { SqliteStore } from '../../../../relay/store/sqlite.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const DAY_MS = 86_400_000;
const ACC = 'acc_ret';

/** A service on a fresh SQLite store whose clock the test sets. */
function setup(t: Test, retentionDays: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-ret-'));
  const store = new SqliteStore(dir);
  const metrics = new Metrics();
  const realNow = Math.floor(Date.now() / 1000) * 1000;
  let clock = realNow;
  const service = new MetadataService({
    store, metrics, log: createLogger('silent'), secret: Buffer.alloc(32, 7), retentionDays, maxPendingVisitors: 1000,
    now: () => new Date(clock),
  });
  t.teardown(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  /** Touches a visitor with the clock set `msAgo` before "now", and writes it. */
  const touchedAgo = async (visitorId: string, msAgo: number) => {
    clock = realNow - msAgo;
    service.touch({ accountId: ACC, visitorId, lastUrl: `https://shop.example.com/${visitorId}` });
    await service.writer.flush(Date.now(), true);
    clock = realNow;
  };
  const exists = async (visitorId: string) => (await store.getVisitor(ACC, visitorId)) !== null;
  return { store, metrics, service, touchedAgo, exists, realNow, setClock: (ms: number) => (clock = ms) };
}

t.test('default 30 days: touched 31 days ago is swept, 29 days ago stays', async (t) => {
  const cfg = loadConfig({});
  t.equal(cfg.retentionDays, 30, 'RETENTION_DAYS defaults to 30');
  const { service, metrics, touchedAgo, exists, store, realNow } = setup(t, cfg.retentionDays);
  t.equal(service.retentionMs, 30 * DAY_MS, 'retention of 30 days in ms');
  await touchedAgo('v-31d', 31 * DAY_MS);
  await touchedAgo('v-29d', 29 * DAY_MS);
  await touchedAgo('v-now', 0);
  t.equal((await store.getVisitor(ACC, 'v-31d'))?.lastSeen.getTime(), realNow - 31 * DAY_MS, 'lastSeen comes from the service clock');
  t.ok(await exists('v-31d'), 'before the sweep, the old visitor is still there');

  t.equal(await service.sweep(), 1, 'the sweep removes one visitor');
  t.notOk(await exists('v-31d'), 'touched 31 days ago: gone');
  t.ok(await exists('v-29d'), 'touched 29 days ago: stays');
  t.ok(await exists('v-now'), 'touched now: stays');
  t.equal(metrics.counters.visitors_expired_total, 1, 'counted as expired');
  t.equal(await service.sweep(), 0, 'sweeping again removes nothing');
});

t.test('the boundary: exactly 30 days stays, a millisecond more goes; the clock moving on expires the rest', async (t) => {
  const { service, touchedAgo, exists, setClock, realNow, metrics } = setup(t, 30);
  await touchedAgo('v-exact', 30 * DAY_MS);
  await touchedAgo('v-over', 30 * DAY_MS + 1);
  await touchedAgo('v-29d', 29 * DAY_MS);
  t.equal(await service.sweep(), 1);
  t.ok(await exists('v-exact'), 'exactly 30 days: kept (removal is for older than the retention)');
  t.notOk(await exists('v-over'), '30 days and 1 ms: gone');
  setClock(realNow + 2 * DAY_MS);
  t.equal(await service.sweep(), 2, 'two days later the sweep catches up');
  t.notOk(await exists('v-exact'), 'now 32 days: gone');
  t.notOk(await exists('v-29d'), 'now 31 days: gone');
  t.equal(metrics.counters.visitors_expired_total, 3);
});

t.test('a touch renews the retention', async (t) => {
  const { service, touchedAgo, exists } = setup(t, 30);
  await touchedAgo('v', 40 * DAY_MS);
  await touchedAgo('v', 1 * DAY_MS);
  t.equal(await service.sweep(), 0, 'nothing to sweep: the visitor came back yesterday');
  t.ok(await exists('v'), 'stays');
});

t.test('RETENTION_DAYS=7 moves the boundary', async (t) => {
  const cfg = loadConfig({ RETENTION_DAYS: '7' });
  t.equal(cfg.retentionDays, 7, 'RETENTION_DAYS=7 is read');
  const { service, touchedAgo, exists } = setup(t, cfg.retentionDays);
  await touchedAgo('v-8d', 8 * DAY_MS);
  await touchedAgo('v-29d', 29 * DAY_MS);
  await touchedAgo('v-7d', 7 * DAY_MS);
  await touchedAgo('v-6d', 6 * DAY_MS);
  t.equal(await service.sweep(), 2, 'two visitors past 7 days');
  t.notOk(await exists('v-8d'), 'touched 8 days ago: gone');
  t.notOk(await exists('v-29d'), 'touched 29 days ago: gone (would stay with 30)');
  t.ok(await exists('v-7d'), 'touched exactly 7 days ago: stays');
  t.ok(await exists('v-6d'), 'touched 6 days ago: stays');
});

t.test('the sweep is global: every account', async (t) => {
  const { service, store, realNow } = setup(t, 30);
  await store.upsertVisitors([
    { accountId: 'acc_x', visitorId: 'old', lastSeen: new Date(realNow - 31 * DAY_MS) },
    { accountId: 'acc_y', visitorId: 'old', lastSeen: new Date(realNow - 31 * DAY_MS) },
    { accountId: 'acc_y', visitorId: 'new', lastSeen: new Date(realNow - DAY_MS) },
  ]);
  t.equal(await service.sweep(), 2);
  t.equal(await store.getVisitor('acc_x', 'old'), null);
  t.equal(await store.getVisitor('acc_y', 'old'), null);
  t.ok(await store.getVisitor('acc_y', 'new'));
});

t.test('loadConfig: RETENTION_DAYS must be a positive integer; default 30', async (t) => {
  t.equal(loadConfig({}).retentionDays, 30, 'unset: 30');
  t.equal(loadConfig({ RETENTION_DAYS: '' }).retentionDays, 30, 'empty: 30');
  t.equal(loadConfig({ RETENTION_DAYS: '1' }).retentionDays, 1, '1 is accepted');
  t.equal(loadConfig({ RETENTION_DAYS: '365' }).retentionDays, 365, '365 is accepted');
  t.equal(loadConfig({ RETENTION_DAYS: '3650' }).retentionDays, 3650, 'ten years is the most');
  const thrown = (value: string): unknown => {
    try {
      loadConfig({ RETENTION_DAYS: value });
    } catch (e) {
      return e;
    }
    return undefined;
  };
  for (const bad of ['abc', '0', '1.5', '-1', '-30', '3651', 'NaN', 'Infinity', '30days', ' ']) {
    const err = thrown(bad);
    t.ok(err instanceof ConfigError, `RETENTION_DAYS=${JSON.stringify(bad)}: a ConfigError`);
    t.match((err as Error | undefined)?.message, /RETENTION_DAYS/, '  whose message names the variable');
  }
});

t.test('ACTIVITY_RETENTION_DAYS: unset keeps the log; set, the sweep removes older entries', async (t) => {
  t.equal(loadConfig({}).activityRetentionDays, 0, 'default 0: kept indefinitely');
  t.equal(loadConfig({ ACTIVITY_RETENTION_DAYS: '90' }).activityRetentionDays, 90);
  t.throws(() => loadConfig({ ACTIVITY_RETENTION_DAYS: '-1' }), 'a negative value is refused');
  for (const days of [0, 90]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-act-'));
    const store = new SqliteStore(dir);
    let clock = Date.now();
    const service = new MetadataService({
      store, metrics: new Metrics(), log: createLogger('silent'), secret: Buffer.alloc(32, 7), retentionDays: 30,
      activityRetentionDays: days, maxPendingVisitors: 1000, now: () => new Date(clock),
    });
    const start = clock;
    service.activity(ACC, 'session_requested', { agentId: 'old' });
    clock = start + 100 * DAY_MS;
    service.activity(ACC, 'session_requested', { agentId: 'new' });
    await service.writer.flush(Date.now(), true);
    await service.sweep();
    const left = (await store.listActivity(ACC, { limit: 10 })).items.map((e) => e.agentId).sort();
    t.same(left, days ? ['new'] : ['new', 'old'], days ? `${days} days: the 100-day-old entry is gone` : 'no retention set: both kept');
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t.test('tombstones expire with the retention: the sweep removes them, and the id is admitted again', async (t) => {
  const { service, store, setClock, realNow } = setup(t, 30);
  service.touch({ accountId: ACC, visitorId: 'v-del' });
  await service.writer.flush(Date.now(), true);
  await service.erase(ACC, { visitorIds: ['v-del'] });
  const key = service.tombstoneKeyOf(ACC, 'v-del');
  setClock(realNow + 29 * DAY_MS);
  await service.sweep();
  t.equal(await service.refusesVisitor(ACC, 'v-del'), true, 'after 29 days the id is still refused');
  t.equal(await store.hasTombstone(ACC, key, new Date(realNow + 29 * DAY_MS)), true, 'after 29 days the tombstone is kept');
  setClock(realNow + 30 * DAY_MS + 1);
  await service.sweep();
  t.equal(await store.sweepTombstones(new Date(realNow + 30 * DAY_MS + 1)), 0, 'after 30 days the service sweep already removed it');
  t.equal(await store.hasTombstone(ACC, key, new Date(realNow)), false, 'gone from the store, whatever the clock');
  t.equal(await service.refusesVisitor(ACC, 'v-del'), false, 'the id is no longer refused (its record would have expired too)');
});
