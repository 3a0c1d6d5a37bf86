/**
 * Erasure through the metadata service on real SQLite files: the activity log keeps no identifier
 * of the person, tombstones live in the store (another store instance on the same file honours
 * them), and afterwards no byte of the deleted identifiers is left in any file under DATA_DIR.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createLogger } from '../../../../relay/log.ts';
import { maskUserId } from '../../../../relay/metadata/mask.ts';
import { MetadataService } from '../../../../relay/metadata/service.ts';
import { Metrics } from '../../../../relay/metrics.ts';
import { SqliteStore } from '../../../../relay/store/sqlite.ts';
import type { DeleteVisitorsFilter } from '../../../../relay/store/types.ts';
import { filesUnder } from '../../../helpers/relay.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const ACC = 'acc_erase';
const SECRET = Buffer.alloc(32, 9);

function service(store: SqliteStore): MetadataService {
  return new MetadataService({ store, metrics: new Metrics(), log: createLogger('silent'), secret: SECRET, retentionDays: 30, maxPendingVisitors: 100_000 });
}

function setup(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-erase-'));
  const store = new SqliteStore(dir);
  t.teardown(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store, svc: service(store) };
}

const flushAll = async (svc: MetadataService) => {
  while (svc.writer.pendingVisitors || svc.writer.pendingActivity) await svc.writer.flush(Date.now(), true);
};

t.test('erasure by email: the activity log keeps no identifier of that person, other people untouched', async (t) => {
  const { store, svc } = setup(t);
  const jane = 'jane@example.com';
  svc.touch({ accountId: ACC, visitorId: 'v-jane', userId: jane, email: jane, name: 'Jane Roe', ip: '198.51.100.7' });
  svc.touch({ accountId: ACC, visitorId: 'v-john', userId: 'john@example.com', email: 'john@example.com' });
  svc.touch({ accountId: ACC, visitorId: 'v-u1', userId: 'u-1', email: 'u1@example.com' });
  svc.activity(ACC, 'session_requested', { agentId: 'alice', visitorId: 'v-jane' }); // before identify: no user id
  svc.activity(ACC, 'consent_given', { agentId: 'alice', visitorId: 'v-jane', userId: jane });
  svc.activity(ACC, 'consent_given', { agentId: 'bob', visitorId: 'v-jane-phone', userId: jane }); // her other device, no record any more
  svc.activity(ACC, 'consent_given', { agentId: 'bob', visitorId: 'v-john', userId: 'john@example.com' }); // same masked form j***@
  svc.activity(ACC, 'consent_given', { agentId: 'bob', visitorId: 'v-u1-old', userId: 'u-1' });
  await flushAll(svc);

  const done = await svc.erase(ACC, { emails: ['JANE@example.com'] });
  t.same(done.visitorIds, ['v-jane'], 'the record with that email');
  t.equal(done.activityScrubbed, 3, 'her three entries (both devices) were scrubbed');
  t.ok(done.vacuumMs > 0, `the store was vacuumed (${done.vacuumMs.toFixed(1)} ms)`);
  const items = (await store.listActivity(ACC, { limit: 100 })).items;
  const text = JSON.stringify(items);
  for (const [what, id] of [['visitor id', 'v-jane'], ['other device', 'v-jane-phone'], ['user key', svc.userKeyOf(ACC, jane)]]) t.notOk(text.includes(`"${id}"`), `her ${what} is nowhere in the log`);
  const pseudo = svc.pseudonymOf(ACC, 'v-jane');
  t.match(pseudo, /^erased-[A-Za-z0-9_-]{16}$/, 'a short keyed pseudonym');
  t.equal(items.filter((e) => e.visitorId === pseudo).length, 2, 'her entries on one device still read as one visitor');
  t.ok(items.filter((e) => e.visitorId?.startsWith('erased-')).every((e) => e.userId === undefined && e.userKey === undefined), 'scrubbed entries have no user id or key');
  const john = items.find((e) => e.visitorId === 'v-john');
  t.same([john?.userId, john?.userKey], [maskUserId('john@example.com'), svc.userKeyOf(ACC, 'john@example.com')], 'john (same masked form) is untouched');
  await flushAll(svc);
  const logged = (await store.listActivity(ACC, { type: 'data_deleted', limit: 10 })).items;
  t.same(logged.map((e) => [e.detail, e.visitorId, e.userId]), [['1 visitor(s) deleted by admin', undefined, undefined]], 'the deletion itself is logged, without identifiers');

  // By a user id kept in clear: entries of a visitor whose record had already expired go too.
  const byUser = await svc.erase(ACC, { userIds: ['u-1'] });
  t.same([byUser.visitorIds, byUser.activityScrubbed], [['v-u1'], 1], 'one record, one entry (the old visitor id of u-1)');
  const left = JSON.stringify((await store.listActivity(ACC, { limit: 100 })).items);
  t.notOk(left.includes('"u-1"') || left.includes('v-u1-old'), 'u-1 and its old visitor id are gone from the log');

  // After the erasure, an entry about the erased visitor (its session ending, say) never names it.
  svc.activity(ACC, 'session_ended', { agentId: 'alice', visitorId: 'v-jane', userId: jane });
  await flushAll(svc);
  const last = (await store.listActivity(ACC, { type: 'session_ended', limit: 1 })).items[0];
  t.same([last.visitorId, last.userId, last.userKey], [pseudo, undefined, undefined], 'a later entry is written pseudonymised');
});

t.test('an entry still pending at the erasure is written first, then scrubbed', async (t) => {
  const { store, svc } = setup(t);
  svc.touch({ accountId: ACC, visitorId: 'v1', userId: 'u-p' });
  svc.activity(ACC, 'consent_given', { agentId: 'alice', visitorId: 'v1', userId: 'u-p' });
  t.equal(svc.writer.pendingActivity, 1, 'not written yet');
  const done = await svc.erase(ACC, { visitorIds: ['v1'] });
  t.equal(done.activityScrubbed, 1, 'counted');
  const items = (await store.listActivity(ACC, { limit: 10 })).items;
  t.notOk(JSON.stringify(items).includes('u-p') || JSON.stringify(items).includes('"v1"'), 'no identifier left');
});

t.test('tombstones live in the store: a second store on the same file refuses the id and never re-creates the row', async (t) => {
  const { dir, store, svc } = setup(t);
  const store2 = new SqliteStore(dir); // another relay process on the same DATA_DIR
  t.teardown(() => store2.close());
  const svc2 = service(store2);
  svc2.touch({ accountId: ACC, visitorId: 'v-shared', userId: 'u-s', lastUrl: 'https://shop.example.com/' });
  await flushAll(svc2);
  t.ok(await store.getVisitor(ACC, 'v-shared'), 'written by the second relay');
  t.equal(await svc2.refusesVisitor(ACC, 'v-shared'), false, 'admitted before the deletion');

  await svc.erase(ACC, { visitorIds: ['v-shared'] });
  t.equal(svc2.isDeleted(ACC, 'v-shared'), false, 'the second relay has no memory of the deletion...');
  t.equal(await svc2.refusesVisitor(ACC, 'v-shared'), true, '...yet refuses the id: the store says so');
  t.equal(await svc2.refusesVisitor(ACC, 'v-other'), false, 'other ids are admitted');
  t.equal(await svc2.refusesVisitor('acc_other', 'v-shared'), false, 'the same id in another account is admitted');

  // A heartbeat queued on the second relay before it knew: the store refuses it inside the write.
  const svc3 = service(store2);
  svc3.touch({ accountId: ACC, visitorId: 'v-shared', lastUrl: 'https://shop.example.com/again', email: 'late@example.com' });
  await flushAll(svc3);
  t.equal(await store.getVisitor(ACC, 'v-shared'), null, 'the row is not re-created');

  // A restart: a fresh store and service on the same file.
  const store3 = new SqliteStore(dir);
  t.teardown(() => store3.close());
  t.equal(await service(store3).refusesVisitor(ACC, 'v-shared'), true, 'after a restart the id is still refused');

  // Tombstones expire with the retention and are swept.
  const key = svc.tombstoneKeyOf(ACC, 'v-shared');
  t.notOk(fs.readdirSync(dir).some((f) => fs.readFileSync(path.join(dir, f)).includes('v-shared')), 'the visitor id itself is in no file (the tombstone keeps a keyed hash)');
  t.equal(await store.hasTombstone(ACC, key, new Date(Date.now() + 29 * 86_400_000)), true, 'still live after 29 days');
  t.equal(await store.hasTombstone(ACC, key, new Date(Date.now() + 31 * 86_400_000)), false, 'expired after 30 (RETENTION_DAYS)');
  t.equal(await store.sweepTombstones(new Date(Date.now() + 31 * 86_400_000)), 1, 'and swept');
});

t.test('a failed vacuum does not fail the erasure; the next sweep runs it again', async (t) => {
  const { store, svc } = setup(t);
  let calls = 0;
  const real = store.vacuum.bind(store);
  store.vacuum = async () => {
    if (++calls === 1) throw new Error('injected: the WAL could not be truncated');
    return real();
  };
  svc.touch({ accountId: ACC, visitorId: 'v1', email: 'v1@example.com' });
  await flushAll(svc);
  const done = await svc.erase(ACC, { visitorIds: ['v1'] });
  t.same([done.visitorIds, done.vacuumMs], [['v1'], 0], 'the erasure is reported done; no vacuum time');
  t.equal(await store.getVisitor(ACC, 'v1'), null, 'the record is gone');
  await svc.sweep();
  t.equal(calls, 2, 'the sweep ran the vacuum again');
  await svc.sweep();
  t.equal(calls, 2, 'and only while one was owed');
});

t.test('vacuums run only when an erasure removed something, and are spaced and shared under a flood of erasures', async (t) => {
  const { store, svc } = setup(t);
  const runs: Array<{ start: number; end: number }> = [];
  const real = store.vacuum.bind(store);
  store.vacuum = async () => {
    const start = performance.now();
    const res = await real();
    runs.push({ start, end: performance.now() });
    return res;
  };
  const nothing = await svc.erase(ACC, { visitorIds: ['never-seen'] });
  t.same([nothing.visitorIds, nothing.vacuumMs, runs.length], [[], 0, 0], 'an erasure that removed nothing runs no vacuum');

  // 20 visitors erase themselves at once (a `forget` loop), then 5 more one after another.
  for (let i = 0; i < 25; i++) svc.touch({ accountId: ACC, visitorId: `f${i}`, email: `f${i}@example.com` });
  await flushAll(svc);
  await Promise.all(Array.from({ length: 20 }, (_, i) => svc.erase(ACC, { visitorIds: [`f${i}`] })));
  t.ok(runs.length <= 3, `20 concurrent erasures shared ${runs.length} vacuum run(s)`);
  for (let i = 20; i < 25; i++) await svc.erase(ACC, { visitorIds: [`f${i}`] });
  for (let i = 1; i < runs.length; i++) {
    const took = runs[i - 1].end - runs[i - 1].start;
    // The spacing is measured from the service's side, which sees the run end a little later.
    t.ok(runs[i].start - runs[i - 1].end >= took * 4 - 5, `run ${i + 1} started ${(runs[i].start - runs[i - 1].end).toFixed(1)} ms after a run of ${took.toFixed(1)} ms (at least 4×)`);
  }
  for (let i = 0; i < 25; i++) t.equal(await store.getVisitor(ACC, `f${i}`), null, `f${i} is gone`);
});

/** Every token `cnry` + 12 hex (and every `2001:db8:` address) in every file under `dir`, in UTF-8 and UTF-16LE. */
function tokensIn(dir: string): Set<string> {
  const found = new Set<string>();
  for (const f of filesUnder(dir)) {
    const buf = fs.readFileSync(f);
    for (const enc of ['utf8', 'utf16le'] as const) {
      const width = enc === 'utf8' ? 1 : 2;
      for (const [prefix, len] of [['cnry', 16], ['2001:db8:', 28]] as const) {
        const needle = Buffer.from(prefix, enc);
        for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + 1)) found.add(buf.subarray(i, i + len * width).toString(enc));
      }
    }
  }
  return found;
}

interface Person { visitorId: string; tokens: string[]; email: string; userId: string }

/** A visitor whose every identifier is made of unique tokens (any 32-byte piece of one holds a whole token). */
function person(): Person & { update: { name: string; ip: string } } {
  const tok = () => `cnry${crypto.randomBytes(6).toString('hex')}`;
  const [e, u, n, v] = [tok(), tok(), tok(), tok()];
  const hex = crypto.randomBytes(8).toString('hex').match(/.{4}/g)!.join(':');
  const ip = `2001:db8:${hex}`; // 28 characters, as tokensIn reads them
  return { visitorId: `${v}${v}`, email: `${e}.${e}.${e}@example.com`, userId: `${u}${u}`, tokens: [e, u, n, v, ip], update: { name: `${n} ${n} ${n}`, ip } };
}

/** Shapes that move rows and index entries around differently before and during deletion. */
const SHAPES: Array<{ name: string; n: number; churn?: boolean; erase: (ps: Person[]) => DeleteVisitorsFilter[] }> = [
  { name: 'by visitor id, every third', n: 400, erase: (ps) => [{ visitorIds: ps.filter((_, i) => i % 3 === 0).map((p) => p.visitorId) }] },
  { name: 'by email, after emails changed (index churn)', n: 3000, churn: true, erase: (ps) => [{ emails: ps.filter((_, i) => i % 4 === 1).map((p) => p.email.toUpperCase()) }] },
  { name: 'by user id, a contiguous run (index pages merge)', n: 5000, erase: (ps) => [{ userIds: ps.slice(1000, 3500).map((p) => p.userId) }] },
  { name: 'all but every tenth', n: 1500, erase: (ps) => [{ allExcept: ps.filter((_, i) => i % 10 === 0).map((p) => p.visitorId) }] },
  { name: 'ten separate erasures with writes in between', n: 2000, churn: true, erase: (ps) => Array.from({ length: 10 }, (_, k) => ({ visitorIds: ps.filter((_, i) => i % 37 === k).map((p) => p.visitorId) })) },
  { name: 'one at a time (forget)', n: 800, erase: (ps) => ps.filter((_, i) => i % 40 === 7).map((p) => ({ visitorIds: [p.visitorId] })) },
  { name: 'by email and user id together, random', n: 2500, churn: true, erase: (ps) => [{ emails: ps.filter(() => Math.random() < 0.15).map((p) => p.email), userIds: ps.filter(() => Math.random() < 0.15).map((p) => p.userId) }] },
];

t.test('after erasure no byte of a deleted identifier is in any file under DATA_DIR (7 shapes)', async (t) => {
  for (const shape of SHAPES) {
    t.test(shape.name, async (t) => {
      const { dir, store, svc } = setup(t);
      t.equal((await (store as unknown as { db: { pragma(s: string, o: object): unknown } }).db.pragma('encoding', { simple: true })), 'UTF-8', 'the store writes UTF-8');
      const people = Array.from({ length: shape.n }, () => person());
      for (const [i, p] of people.entries()) {
        svc.touch({ accountId: ACC, visitorId: p.visitorId, userId: p.userId, email: `old-${p.email}`, ...p.update, lastUrl: `https://shop.example.com/${i}` });
        svc.activity(ACC, 'consent_given', { agentId: 'alice', visitorId: p.visitorId, userId: p.userId });
      }
      await flushAll(svc);
      for (const p of people) svc.touch({ accountId: ACC, visitorId: p.visitorId, email: p.email }); // the real email replaces the old one
      await flushAll(svc);
      const filters = shape.erase(people);
      const gone = new Set<string>();
      for (const [k, f] of filters.entries()) {
        for (const id of (await svc.erase(ACC, f)).visitorIds) gone.add(id);
        if (shape.churn && k % 2 === 0) {
          // Writes between erasures move index entries of the people who stay.
          for (const p of people.filter((q) => !gone.has(q.visitorId)).slice(0, 200)) svc.touch({ accountId: ACC, visitorId: p.visitorId, lastUrl: `https://shop.example.com/x${k}` });
          await flushAll(svc);
        }
      }
      t.ok(gone.size > 0 && gone.size < people.length, `${gone.size} of ${people.length} erased`);
      const found = tokensIn(dir);
      const deleted = people.filter((p) => gone.has(p.visitorId));
      const kept = people.filter((p) => !gone.has(p.visitorId));
      const leaked = deleted.flatMap((p) => p.tokens).filter((x) => found.has(x));
      t.same(leaked, [], 'no piece of a deleted email, user id, name, IP or visitor id in any file (UTF-8 or UTF-16)');
      const missing = kept.flatMap((p) => p.tokens).filter((x) => !found.has(x));
      t.same(missing, [], `positive control: every identifier of the ${kept.length} people kept is found`);
      const keys = deleted.slice(0, 50).map((p) => Buffer.from(svc.userKeyOf(ACC, p.userId)));
      const raw = filesUnder(dir).map((f) => fs.readFileSync(f));
      t.notOk(keys.some((k) => raw.some((b) => b.includes(k))), 'nor their user keys (activity log)');
      t.ok(raw.some((b) => b.includes(Buffer.from(svc.userKeyOf(ACC, kept[0].userId)))), 'positive control: a kept user key is found');
    });
  }
});

t.test('the vacuum runs off the main thread: measured on 50k visitors and 50k activity entries', async (t) => {
  const { store, svc } = setup(t);
  const ups = Array.from({ length: 50_000 }, (_, i) => ({
    accountId: ACC, visitorId: `v${String(i).padStart(7, '0')}`, lastSeen: new Date(Date.now() - i * 1000), ip: `10.0.${i % 250}.${i % 200}`,
    lastUrl: `https://shop.example.com/products/item-${i}?ref=campaign`, userId: `user-${i}`, name: `Name Surname ${i}`, email: `person${i}@example.com`,
  }));
  for (let i = 0; i < ups.length; i += 1000) await store.upsertVisitors(ups.slice(i, i + 1000));
  for (let i = 0; i < ups.length; i += 5000) {
    await store.appendActivity(ups.slice(i, i + 5000).map((u) => ({ accountId: ACC, at: new Date(), type: 'consent_given' as const, agentId: 'alice', visitorId: u.visitorId, userId: u.userId, userKey: svc.userKeyOf(ACC, u.userId) })));
  }
  const size = fs.statSync(store.file).size;
  // A 1 ms timer: its longest gap is the longest event-loop stall; its turns while the vacuum runs
  // prove the vacuum is not on this thread (there it would allow none).
  let ticks = 0;
  let maxGap = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 1);
  t.teardown(() => clearInterval(ticker));
  await new Promise((r) => setTimeout(r, 500));
  const idleGap = maxGap; // the machine's own scheduling noise, for comparison
  maxGap = 0;
  const vacuum = store.vacuum.bind(store);
  let ticksDuringVacuum = -1;
  let writeDuring: Promise<number> | undefined;
  store.vacuum = async () => {
    const before = ticks;
    const running = vacuum();
    // A write issued while the vacuum runs waits for it without blocking the event loop.
    const w0 = performance.now();
    writeDuring = store.upsertVisitors([{ accountId: ACC, visitorId: 'v-during', lastSeen: new Date() }]).then(() => performance.now() - w0);
    const r = await running;
    ticksDuringVacuum = ticks - before;
    return r;
  };
  const t0 = performance.now();
  const done = await svc.erase(ACC, { visitorIds: ['v0001234'] });
  const writeWait = await writeDuring!;
  const total = performance.now() - t0;
  clearInterval(ticker);
  t.comment(`DB ${(size / 1e6).toFixed(1)} MB: erasure ${total.toFixed(0)} ms, of which VACUUM+checkpoint ${done.vacuumMs.toFixed(0)} ms in the worker; ` +
    `longest event-loop stall ${maxGap.toFixed(1)} ms (idle baseline on this machine ${idleGap.toFixed(1)} ms); ` +
    `${ticksDuringVacuum} timer turns during the vacuum; a write during the vacuum waited ${writeWait.toFixed(0)} ms`);
  t.same(done.visitorIds, ['v0001234']);
  t.ok(done.vacuumMs > 0, 'vacuumed');
  t.ok(ticksDuringVacuum > 10, `the event loop kept turning while the vacuum ran (${ticksDuringVacuum} turns)`);
  t.ok(await store.getVisitor(ACC, 'v-during'), 'the write made during the vacuum landed');
  t.equal(await store.getVisitor(ACC, 'v0001234'), null, 'the visitor is gone');
});
