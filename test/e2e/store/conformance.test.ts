/**
 * One conformance suite for the Store interface, run on every implementation:
 * SQLite always (a real file in a fresh temp dir), MongoDB only against a real server
 * named by MONGODB_URL. Without it the MongoDB run is reported as SKIPPED, never as passed.
 * What the MongoDB store builds without a server (index specs, filters, documents) is
 * unit-tested below as data.
 */
import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON, MongoClient } from 'mongodb';
import t from 'tap';
import { hashSecret, makeSecretKey, randomId } from '../../../relay/auth/secrets.ts';
import { ACCOUNT_INDEXES, MongoStore, accountByPublicKeyFilter, accountFromDoc, accountToDoc } from '../../../relay/store/mongo.ts';
import { SqliteStore } from '../../../relay/store/sqlite.ts';
import { newEventId } from '../../../relay/metadata/eventId.ts';
import {
  StoreConflictError, type AccountRecord, type ActivityEvent, type ActivityQuery, type Store, type VisitorQuery, type VisitorUpdate,
} from '../../../relay/store/types.ts';

/** A tap (sub)test: the argument of the single-callback overload of t.test. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** Opens a fresh, empty store; `reopen` opens the same data again; `cleanup` removes whatever it created. */
export type StoreFactory = () => Promise<{ store: Store; reopen: () => Promise<Store>; cleanup: () => Promise<void> }>;

const rsaPem = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ecPem = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

async function account(over: Partial<AccountRecord> = {}): Promise<AccountRecord> {
  const id = randomId('acc');
  return {
    id,
    name: `n-${crypto.randomBytes(4).toString('hex')}`,
    publicKey: randomId('pk', 18),
    secretHash: await hashSecret(makeSecretKey(id)),
    allowedOrigins: ['https://shop.example.com', 'https://*.example.org'],
    requireConsent: true,
    createdAt: new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678)),
    ...over,
  };
}

export function storeConformance(t: Test, kind: 'sqlite' | 'mongodb', factory: StoreFactory): void {
  const open = async (t: Test) => {
    const s = await factory();
    t.teardown(async () => {
      await s.store.close().catch(() => {});
      await s.cleanup();
    });
    return s;
  };

  t.test('kind, ping', async (t) => {
    const { store } = await open(t);
    t.equal(store.kind, kind);
    await t.resolves(store.ping(), 'ping resolves on an open store');
  });

  t.test('create, then get by id, public key and name', async (t) => {
    const { store } = await open(t);
    const a = await account();
    const b = await account({ requireConsent: false, allowedOrigins: ['http://localhost:3000'] });
    await store.createAccount(a);
    await store.createAccount(b);
    t.same(await store.getAccountById(a.id), a, 'by id: the same record');
    t.same(await store.getAccountByPublicKey(a.publicKey), a, 'by public key: the same record');
    t.same(await store.getAccountByName(a.name), a, 'by name: the same record');
    const gotB = await store.getAccountById(b.id);
    t.same(gotB, b, 'a second account, consent off');
    t.equal(gotB?.requireConsent, false, 'requireConsent false is kept as false (not 0)');
    t.equal((await store.getAccountById(a.id))?.requireConsent, true, 'requireConsent true is kept as true (not 1)');
    t.same((await store.getAccountById(a.id))?.allowedOrigins, a.allowedOrigins, 'origins keep their order');
    t.equal((await store.getAccountById(a.id))?.secretHash, a.secretHash, 'secret hash round-trips');
  });

  t.test('listAccounts: every account, oldest first, whole records', async (t) => {
    const { store } = await open(t);
    t.same(await store.listAccounts(), [], 'none in a fresh store');
    const a = { ...(await account()), createdAt: new Date(1_700_000_000_000) };
    const b = { ...(await account()), createdAt: new Date(1_600_000_000_000) };
    await store.createAccount(a);
    await store.createAccount(b);
    t.same(await store.listAccounts(), [b, a], 'oldest first');
  });

  t.test('setAccountSecretHash: replaces the hash of exactly that account', async (t) => {
    const { store } = await open(t);
    const a = await account();
    const b = await account();
    await store.createAccount(a);
    await store.createAccount(b);
    t.equal(await store.setAccountSecretHash(a.id, 'scrypt$new$hash'), true, 'true for an existing account');
    t.same(await store.getAccountById(a.id), { ...a, secretHash: 'scrypt$new$hash' }, 'only the hash changed');
    t.same(await store.getAccountById(b.id), b, 'the other account is untouched');
    t.equal(await store.setAccountSecretHash('acc_nope', 'x'), false, 'false for an unknown account');
    t.equal(await store.getAccountById('acc_nope'), null, 'and nothing is created');
  });

  t.test('null for unknown keys; look-ups are exact', async (t) => {
    const { store } = await open(t);
    const a = await account();
    await store.createAccount(a);
    t.equal(await store.getAccountById('acc_nope'), null);
    t.equal(await store.getAccountByPublicKey('pk_nope'), null);
    t.equal(await store.getAccountByName('nope'), null);
    t.equal(await store.getAccountById(a.id.toUpperCase()), null, 'ids are case-sensitive');
    t.equal(await store.getAccountByPublicKey(a.publicKey.slice(0, -1)), null, 'no prefix match');
    t.equal(await store.getAccountByPublicKey(`${a.publicKey}%`), null, 'no LIKE-style wildcard');
    t.equal(await store.getAccountByName(''), null, 'empty name');
    t.equal(await store.getAccountById(a.publicKey), null, 'a public key is not an id');
    // Operator objects from untyped callers must not match anything.
    t.equal(await store.getAccountByPublicKey({ $ne: 'x' } as unknown as string).catch(() => null), null, 'an operator object matches nothing');
    t.equal(await store.getAccountById({ $gt: '' } as unknown as string).catch(() => null), null, 'an operator object as id matches nothing');
  });

  t.test('conflicts: duplicate id, name or public key', async (t) => {
    const { store } = await open(t);
    const a = await account();
    await store.createAccount(a);
    const dupName = await account({ name: a.name });
    const dupKey = await account({ publicKey: a.publicKey });
    const dupId = await account({ id: a.id });
    for (const [what, rec] of [['name', dupName], ['public key', dupKey], ['id', dupId]] as const) {
      const err = await store.createAccount(rec).then(() => null, (e: unknown) => e);
      t.ok(err instanceof StoreConflictError, `duplicate ${what}: StoreConflictError`);
      t.equal((err as StoreConflictError | null)?.code, 'conflict');
    }
    t.equal(await store.getAccountById(dupName.id), null, 'the refused account was not written');
    t.equal(await store.getAccountById(dupKey.id), null, 'the refused account was not written');
    t.same(await store.getAccountById(a.id), a, 'the original is untouched');
    const fine = await account();
    await t.resolves(store.createAccount(fine), 'the store still accepts new accounts after conflicts');
  });

  t.test('Dates round-trip as Date', async (t) => {
    const { store } = await open(t);
    const when = new Date('2031-12-31T23:59:59.999Z');
    const a = await account({ createdAt: when });
    await store.createAccount(a);
    const got = await store.getAccountById(a.id);
    t.ok(got?.createdAt instanceof Date, 'createdAt is a Date');
    t.equal(got?.createdAt.getTime(), when.getTime(), 'to the millisecond');
    const byKey = await store.getAccountByPublicKey(a.publicKey);
    t.ok(byKey?.createdAt instanceof Date, 'also through the public-key look-up');
  });

  t.test('agentKey round-trip; absent stays absent', async (t) => {
    const { store } = await open(t);
    const withKey = await account({ agentKey: { alg: 'RS256', pem: rsaPem } });
    const without = await account();
    await store.createAccount(withKey);
    await store.createAccount(without);
    t.same((await store.getAccountById(withKey.id))?.agentKey, { alg: 'RS256', pem: rsaPem }, 'agentKey comes back verbatim');
    const got = await store.getAccountById(without.id);
    t.equal(got?.agentKey, undefined, 'no agentKey: undefined (not null)');
    t.notOk(got && 'agentKey' in got && got.agentKey !== undefined, 'no agentKey property with a value');
  });

  t.test('data survives close and reopen', async (t) => {
    const s = await open(t);
    const a = await account({ agentKey: { alg: 'ES256', pem: ecPem } });
    await s.store.createAccount(a);
    await s.store.close();
    const again = await s.reopen();
    t.teardown(() => again.close());
    t.same(await again.getAccountByPublicKey(a.publicKey), a, 'same record after reopening');
  });

  t.test('close', async (t) => {
    const { store } = await open(t);
    await store.close();
    await t.rejects(store.ping(), 'ping fails after close');
    await t.resolves(store.close(), 'closing twice is harmless');
  });

  visitorAndActivityConformance(t, kind, open);
}

const DAY_MS = 86_400_000;

/**
 * Visitors and the activity log, the same on every store. Times are recent (relative to
 * the real clock, whole seconds): on MongoDB the server's TTL monitor removes documents
 * whose lastSeen is older than the retention, so old fixed dates would vanish mid-test.
 */
function visitorAndActivityConformance(
  t: Test,
  kind: 'sqlite' | 'mongodb',
  open: (t: Test) => Promise<{ store: Store; reopen: () => Promise<Store>; cleanup: () => Promise<void> }>,
): void {
  const A = 'acc_conf_a';
  const B = 'acc_conf_b';
  /** A recent whole second, so every offset below stays well inside the retention. */
  const base = () => Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  const ids = (items: Array<{ visitorId: string }>) => items.map((v) => v.visitorId);
  const vids = ids;
  const search = async (store: Store, accountId: string, q: Omit<VisitorQuery, 'limit'> & { limit?: number }) =>
    ids((await store.searchVisitors(accountId, { limit: 100, ...q })).items);
  /** Every page, following nextCursor until there is none. */
  async function allPages<T>(get: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string }>, t: Test, limit: number): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const page = await get(cursor);
      t.ok(page.items.length <= limit, `page ${i + 1} holds at most ${limit}`);
      out.push(...page.items);
      if (!page.nextCursor) return out;
      t.ok(page.items.length === limit, `a page with a next cursor is full (page ${i + 1})`);
      cursor = page.nextCursor;
    }
    t.fail('pagination did not end');
    return out;
  }

  t.test('visitors: an insert sets firstSeen = lastSeen and empty ip/url', async (t) => {
    const { store } = await open(t);
    const t1 = new Date(base());
    await store.upsertVisitors([{ accountId: A, visitorId: 'v1', lastSeen: t1 }]);
    const got = await store.getVisitor(A, 'v1');
    t.same(got, { accountId: A, visitorId: 'v1', ip: '', lastUrl: '', firstSeen: t1, lastSeen: t1 }, 'only the required fields, ip and lastUrl empty');
    t.ok(got?.firstSeen instanceof Date && got.lastSeen instanceof Date, 'firstSeen and lastSeen are Dates');
    t.equal(got?.firstSeen.getTime(), t1.getTime(), 'firstSeen = lastSeen on insert');
    for (const k of ['userId', 'name', 'email', 'lookupCode', 'lookupCodeExpiresAt'] as const) {
      t.equal(got?.[k], undefined, `${k} absent when never given`);
    }

    const t2 = new Date(base() + 1234);
    const expires = new Date(base() + 600_000);
    const full: VisitorUpdate = {
      accountId: A, visitorId: 'v2', lastSeen: t2, ip: '203.0.113.7', lastUrl: 'https://shop.example.com/p/1?x=y',
      userId: 'user-42', name: 'Jane Doe', email: 'jane@example.com', lookupCode: '042137', lookupCodeExpiresAt: expires,
    };
    await store.upsertVisitors([full]);
    const got2 = await store.getVisitor(A, 'v2');
    const { lastSeen: _ls, ...rest } = full;
    t.same(got2, { ...rest, firstSeen: t2, lastSeen: t2 }, 'every field of a full insert comes back');
    t.ok(got2?.lookupCodeExpiresAt instanceof Date, 'lookupCodeExpiresAt is a Date');
    t.equal(got2?.lookupCodeExpiresAt?.getTime(), expires.getTime(), 'to the millisecond');
    t.equal(await store.getVisitor(A, 'v3'), null, 'unknown visitor: null');
    await t.resolves(store.upsertVisitors([]), 'an empty batch is harmless');
  });

  t.test('visitors: later updates keep what they leave undefined; lastSeen only forward; firstSeen once', async (t) => {
    const { store } = await open(t);
    const b = base();
    const t1 = new Date(b + 10_000);
    await store.upsertVisitors([{
      accountId: A, visitorId: 'v1', lastSeen: t1, ip: '198.51.100.1', lastUrl: 'https://shop.example.com/a',
      userId: 'u-1', name: 'Ann', email: 'ann@example.com',
    }]);
    const t2 = new Date(b + 20_000);
    await store.upsertVisitors([{ accountId: A, visitorId: 'v1', lastSeen: t2, lastUrl: 'https://shop.example.com/b' }]);
    let got = await store.getVisitor(A, 'v1');
    t.equal(got?.lastUrl, 'https://shop.example.com/b', 'a given field is updated');
    t.equal(got?.ip, '198.51.100.1', 'ip kept when the update leaves it undefined (not reset to "")');
    t.equal(got?.userId, 'u-1', 'userId kept');
    t.equal(got?.name, 'Ann', 'name kept');
    t.equal(got?.email, 'ann@example.com', 'email kept');
    t.equal(got?.lastSeen.getTime(), t2.getTime(), 'lastSeen moves forward');
    t.equal(got?.firstSeen.getTime(), t1.getTime(), 'firstSeen stays at the insert');

    // An older update (a late batch) never moves lastSeen back, nor firstSeen.
    const t0 = new Date(b);
    await store.upsertVisitors([{ accountId: A, visitorId: 'v1', lastSeen: t0, ip: '198.51.100.2' }]);
    got = await store.getVisitor(A, 'v1');
    t.equal(got?.lastSeen.getTime(), t2.getTime(), 'an older lastSeen does not move lastSeen back');
    t.equal(got?.firstSeen.getTime(), t1.getTime(), 'nor firstSeen (set on insert only)');
    t.ok(got?.lastSeen instanceof Date && got.firstSeen instanceof Date, 'still Dates');

    const t3 = new Date(b + 30_000);
    const exp = new Date(b + 40_000);
    await store.upsertVisitors([{ accountId: A, visitorId: 'v1', lastSeen: t3, lookupCode: '123456', lookupCodeExpiresAt: exp, userId: 'u-2' }]);
    got = await store.getVisitor(A, 'v1');
    t.equal(got?.lookupCode, '123456', 'lookup code set later');
    t.equal(got?.lookupCodeExpiresAt?.getTime(), exp.getTime(), 'with its expiry, as a Date');
    t.equal(got?.userId, 'u-2', 'a new user id replaces the old one');
    t.equal(got?.name, 'Ann', 'name still kept');
    t.equal(got?.lastUrl, 'https://shop.example.com/b', 'lastUrl still kept');
    t.equal(got?.firstSeen.getTime(), t1.getTime(), 'firstSeen never changes');
    t.equal(got?.lastSeen.getTime(), t3.getTime());
  });

  t.test('visitors: scoped by account', async (t) => {
    const { store } = await open(t);
    const b = base();
    await store.upsertVisitors([
      { accountId: A, visitorId: 'shared', lastSeen: new Date(b), ip: '192.0.2.1', userId: 'u-a' },
      { accountId: B, visitorId: 'shared', lastSeen: new Date(b + 1000), ip: '192.0.2.2', userId: 'u-b' },
    ]);
    t.equal((await store.getVisitor(A, 'shared'))?.ip, '192.0.2.1', 'account A has its own row');
    t.equal((await store.getVisitor(B, 'shared'))?.ip, '192.0.2.2', 'account B has its own row');
    await store.upsertVisitors([{ accountId: A, visitorId: 'shared', lastSeen: new Date(b + 5000), name: 'Only A' }]);
    t.equal((await store.getVisitor(A, 'shared'))?.name, 'Only A', 'the update reached A');
    const inB = await store.getVisitor(B, 'shared');
    t.equal(inB?.name, undefined, 'and not B');
    t.equal(inB?.lastSeen.getTime(), b + 1000, "B's lastSeen unchanged");
    t.equal(await store.getVisitor('acc_conf_c', 'shared'), null, 'a third account sees nothing');
    t.same(await search(store, B, { userId: 'u-a' }), [], "A's user id does not match in B");
  });

  t.test('searchVisitors: filters, free text taken literally, newest first, scoped', async (t) => {
    const { store } = await open(t);
    const b = base();
    const rows: Array<Omit<VisitorUpdate, 'accountId' | 'lastSeen'> & { s: number }> = [
      { visitorId: 'v-ann', s: 7, userId: 'user-1', name: 'Ann Smith', email: 'ann@example.com', lastUrl: 'https://shop.example.com/cart' },
      { visitorId: 'v-bob', s: 6, userId: 'user-2', name: 'Bob', email: 'Bob.Jones@Example.com', lastUrl: 'https://shop.example.com/checkout?step=2' },
      { visitorId: 'v-pct', s: 5, name: '100% Cotton', lastUrl: 'https://shop.example.com/p/100%25' },
      { visitorId: 'v-und', s: 4, name: 'a_b', userId: 'snake_case' },
      { visitorId: 'v-dot', s: 3, name: 'a.c (special) [x] ^$*+?{}| back\\slash' },
      { visitorId: 'v-abc', s: 2, name: 'abc', lastUrl: 'https://shop.example.com/abc' },
      { visitorId: 'v-code', s: 1, lookupCode: '123456' },
    ];
    await store.upsertVisitors(rows.map(({ s, ...r }) => ({ ...r, accountId: A, lastSeen: new Date(b + s * 1000) })));
    // The same people in another account: never returned for A.
    await store.upsertVisitors([
      { accountId: B, visitorId: 'v-ann', lastSeen: new Date(b + 9000), userId: 'user-1', email: 'ann@example.com', name: 'Ann Smith' },
      { accountId: B, visitorId: 'v-b-code', lastSeen: new Date(b + 9000), lookupCode: '123456', name: '100% _ a.c' },
    ]);
    const all = ['v-ann', 'v-bob', 'v-pct', 'v-und', 'v-dot', 'v-abc', 'v-code'];

    t.same(await search(store, A, {}), all, 'no filter: every visitor of the account, newest lastSeen first');
    const full = (await store.searchVisitors(A, { limit: 100 })).items;
    t.ok(full.every((v) => v.accountId === A), 'only this account');
    t.same(await search(store, A, { onlyVisitorIds: ['v-code', 'v-bob', 'v-nope'] }), ['v-bob', 'v-code'], 'onlyVisitorIds: just those, newest first');
    t.same(await search(store, A, { onlyVisitorIds: [] }), [], 'onlyVisitorIds empty: nobody');
    t.same(await search(store, A, { exceptVisitorIds: ['v-ann', 'v-abc'] }), all.filter((v) => v !== 'v-ann' && v !== 'v-abc'), 'exceptVisitorIds: all but those');
    t.same(await search(store, A, { onlyVisitorIds: ['v-bob', 'v-ann'], q: 'ann' }), ['v-ann'], 'combined with the other filters');
    const many = Array.from({ length: 40_000 }, (_, i) => `v-x${i}`).concat('v-und');
    t.same(await search(store, A, { onlyVisitorIds: many }), ['v-und'], 'tens of thousands of ids in one query');
    t.same(await search(store, B, { onlyVisitorIds: ['v-bob', 'v-ann'] }), ['v-ann'], "scoped: another account's ids match nothing of A's"); 
    t.ok(full.every((v) => v.lastSeen instanceof Date && v.firstSeen instanceof Date), 'Dates come back as Dates');
    t.equal((await store.searchVisitors(A, { limit: 100 })).nextCursor, undefined, 'everything on one page: no next cursor');

    t.same(await search(store, A, { userId: 'user-1' }), ['v-ann'], 'by user id');
    t.same(await search(store, A, { userId: 'USER-1' }), [], 'user id is exact (case-sensitive)');
    t.same(await search(store, A, { userId: 'user' }), [], 'user id: no prefix match');
    t.same(await search(store, A, { email: 'ANN@example.COM' }), ['v-ann'], 'email: case-insensitive');
    t.same(await search(store, A, { email: 'bob.jones@example.com' }), ['v-bob'], 'email: stored mixed case, searched lower case');
    t.same(await search(store, A, { email: 'ann@example' }), [], 'email: exact, no prefix match');
    t.same(await search(store, A, { email: 'nn@example.com' }), [], 'email: exact, no suffix match');
    t.same(await search(store, A, { email: 'bobXjones@example.com' }), [], 'email: "." is literal');
    t.same(await search(store, A, { email: '%' }), [], 'email: "%" is literal');
    t.same(await search(store, A, { email: '.*' }), [], 'email: ".*" is literal');
    t.same(await search(store, A, { lookupCode: '123456' }), ['v-code'], 'by lookup code (B has the same code: not returned)');
    t.same(await search(store, A, { lookupCode: '12345' }), [], 'lookup code is exact');

    t.same(await search(store, A, { q: 'ann' }), ['v-ann'], 'q matches name/email, case-insensitive');
    t.same(await search(store, A, { q: 'CHECKOUT' }), ['v-bob'], 'q matches the last URL, case-insensitive');
    t.same(await search(store, A, { q: 'user-2' }), ['v-bob'], 'q matches the user id');
    t.same(await search(store, A, { q: 'JONES@' }), ['v-bob'], 'q matches the email');
    t.same(await search(store, A, { q: 'smi' }), ['v-ann'], 'q is a substring match');
    t.same(await search(store, A, { q: '%' }), ['v-pct'], 'q: "%" is literal (no LIKE wildcard)');
    t.same(await search(store, A, { q: '_' }), ['v-und'], 'q: "_" is literal (no LIKE wildcard)');
    t.same(await search(store, A, { q: 'a.c' }), ['v-dot'], 'q: "." is literal (does not match "abc")');
    t.same(await search(store, A, { q: '.*' }), [], 'q: ".*" is literal');
    t.same(await search(store, A, { q: '(special)' }), ['v-dot'], 'q: parentheses are literal');
    t.same(await search(store, A, { q: '[x]' }), ['v-dot'], 'q: brackets are literal');
    t.same(await search(store, A, { q: '^$*+?{}|' }), ['v-dot'], 'q: other regex metacharacters are literal');
    t.same(await search(store, A, { q: 'back\\slash' }), ['v-dot'], 'q: a backslash is literal');
    t.same(await search(store, A, { q: '\\' }), ['v-dot'], 'q: a lone backslash is literal');
    t.same(await search(store, A, { q: 'nobody-has-this' }), [], 'q: no match, empty page');
    t.same(await search(store, A, { q: 'example.com' }), ['v-ann', 'v-bob', 'v-pct', 'v-abc'], 'q across fields, newest first');

    t.same(await search(store, A, { seenSince: new Date(b + 5000) }), ['v-ann', 'v-bob', 'v-pct'], 'seenSince is inclusive');
    t.same(await search(store, A, { seenSince: new Date(b + 5001) }), ['v-ann', 'v-bob'], 'seenSince excludes older');
    t.same(await search(store, A, { seenSince: new Date(b + 60_000) }), [], 'seenSince in the future: nothing');
    t.same(await search(store, A, { q: 'example.com', seenSince: new Date(b + 6000) }), ['v-ann', 'v-bob'], 'filters combine (AND)');
    t.same(await search(store, A, { userId: 'user-1', q: 'bob' }), [], 'filters combine (AND), no match');
  });

  t.test('searchVisitors: pagination covers every row exactly once, ties included', async (t) => {
    const { store } = await open(t);
    const b = base();
    // Offsets in seconds; several visitors share a lastSeen, and ids are not in time order.
    const seed: Array<[string, number]> = [
      ['p-e', 3], ['p-a', 3], ['p-i', 3], ['p-c', 2], ['p-g', 2], ['p-b', 1], ['p-h', 1], ['p-d', 1], ['p-f', 0], ['p-j', 3], ['p-k', 0],
    ];
    await store.upsertVisitors(seed.map(([id, s]) => ({ accountId: A, visitorId: id, lastSeen: new Date(b + s * 1000), name: `page ${id}` })));
    await store.upsertVisitors([{ accountId: B, visitorId: 'p-z', lastSeen: new Date(b + 2000), name: 'page p-z' }]);
    const whole = await store.searchVisitors(A, { limit: 100 });
    t.equal(whole.items.length, seed.length, 'all rows on one big page');
    for (let i = 1; i < whole.items.length; i++) {
      t.ok(whole.items[i - 1].lastSeen.getTime() >= whole.items[i].lastSeen.getTime(), `newest first (${i})`);
    }
    for (const limit of [1, 2, 3, 4, seed.length - 1, seed.length]) {
      const got = await allPages((cursor) => store.searchVisitors(A, { limit, cursor }), t, limit);
      const gotIds = ids(got);
      t.equal(gotIds.length, seed.length, `limit ${limit}: as many rows as stored`);
      t.equal(new Set(gotIds).size, seed.length, `limit ${limit}: no row twice`);
      t.same(gotIds, ids(whole.items), `limit ${limit}: the same order as one big page`);
    }
    const exact = await store.searchVisitors(A, { limit: seed.length });
    t.equal(exact.nextCursor, undefined, 'a page that holds exactly the rest has no next cursor');
    const filtered = await allPages((cursor) => store.searchVisitors(A, { limit: 2, cursor, q: 'page', seenSince: new Date(b + 1000) }), t, 2);
    t.same(ids(filtered).sort(), seed.filter(([, s]) => s >= 1).map(([id]) => id).sort(), 'pagination with filters: every match once');
    t.equal(new Set(ids(filtered)).size, ids(filtered).length, 'no duplicates with filters');
  });

  t.test('deleteVisitors: by ids, user ids, emails, all-except; exactly the ids deleted; scoped; idempotent', async (t) => {
    const { store } = await open(t);
    const b = base();
    const seen = new Date(b);
    await store.upsertVisitors([
      { accountId: A, visitorId: 'd1', lastSeen: seen, userId: 'u-1', email: 'one@example.com' },
      { accountId: A, visitorId: 'd2', lastSeen: seen, userId: 'u-1' },
      { accountId: A, visitorId: 'd3', lastSeen: seen, email: 'Mixed.Case@Example.com' },
      { accountId: A, visitorId: 'd4', lastSeen: seen },
      { accountId: A, visitorId: 'd5', lastSeen: seen, userId: 'u-5' },
      { accountId: A, visitorId: 'keep', lastSeen: seen, userId: 'u-keep' },
      { accountId: B, visitorId: 'd1', lastSeen: seen, userId: 'u-1', email: 'one@example.com' },
      { accountId: B, visitorId: 'd4', lastSeen: seen },
      { accountId: B, visitorId: 'b-other', lastSeen: seen, email: 'mixed.case@example.com' },
    ]);
    const count = async (acc: string) => (await store.searchVisitors(acc, { limit: 100 })).items.length;

    t.same(vids(await store.deleteVisitors(A, {})), [], 'an empty filter deletes nothing');
    t.same(vids(await store.deleteVisitors(A, { visitorIds: [], userIds: [], emails: [] })), [], 'empty lists delete nothing');
    t.same(vids(await store.deleteVisitors(A, { userIds: ['%'], emails: ['%'], visitorIds: ['%'] })), [], '"%" is literal everywhere');
    t.same(vids(await store.deleteVisitors(A, { emails: ['.*', 'mixed.case@example.co'] })), [], 'emails: exact, metacharacters literal');
    t.equal(await count(A), 6, 'nothing deleted so far in A');

    t.same(vids(await store.deleteVisitors(A, { visitorIds: ['d4', 'nope'] })), ['d4'], 'by visitor id: exactly the ids deleted');
    t.same(vids(await store.deleteVisitors(A, { visitorIds: ['d4'] })), [], 'the second call returns []');
    t.equal(await store.getVisitor(A, 'd4'), null, 'd4 gone from A');
    t.ok(await store.getVisitor(B, 'd4'), "B's d4 untouched");

    t.same((vids(await store.deleteVisitors(A, { userIds: ['u-1'] }))).sort(), ['d1', 'd2'], 'by user id: every visitor with it');
    t.same(vids(await store.deleteVisitors(A, { userIds: ['u-1'] })), [], 'idempotent');
    t.ok(await store.getVisitor(B, 'd1'), "B's visitor with the same user id untouched");

    t.same(vids(await store.deleteVisitors(A, { emails: ['mixed.case@EXAMPLE.com'] })), ['d3'], 'by email, case-insensitive');
    t.same(vids(await store.deleteVisitors(A, { emails: ['mixed.case@example.com'] })), [], 'idempotent');
    t.ok(await store.getVisitor(B, 'b-other'), "B's visitor with that email untouched");

    t.same(vids(await store.deleteVisitors(A, { allExcept: ['keep'] })), ['d5'], 'all except: every other visitor of the account');
    t.same(vids(await store.deleteVisitors(A, { allExcept: ['keep'] })), [], 'idempotent');
    t.same(await search(store, A, {}), ['keep'], 'only the kept visitor is left in A');
    t.equal(await count(B), 3, 'B untouched throughout');
    t.same((vids(await store.deleteVisitors(B, { visitorIds: ['d1'], emails: ['MIXED.case@example.com'] }))).sort(), ['b-other', 'd1'], 'filters combine (OR)');
    t.same(vids(await store.deleteVisitors(B, { allExcept: [] })), ['d4'], 'all except none: the rest of the account');
    t.equal(await count(B), 0, 'B now empty');
    t.same(await search(store, A, {}), ['keep'], "A's kept visitor survives B's deletions");
  });

  t.test('sweepExpiredVisitors: removes rows with lastSeen < now - retention, keeps the rest', async (t) => {
    const { store } = await open(t);
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const retentionMs = 30 * DAY_MS;
    const ago = (ms: number) => new Date(now.getTime() - ms);
    await store.upsertVisitors([
      { accountId: A, visitorId: 'old', lastSeen: ago(31 * DAY_MS) },
      { accountId: A, visitorId: 'just-expired', lastSeen: ago(retentionMs + 1) },
      { accountId: A, visitorId: 'boundary', lastSeen: ago(retentionMs) },
      { accountId: A, visitorId: 'fresh', lastSeen: ago(29 * DAY_MS) },
      { accountId: A, visitorId: 'recent', lastSeen: ago(3_600_000) },
      { accountId: B, visitorId: 'old-b', lastSeen: ago(40 * DAY_MS) },
    ]);
    const n = await store.sweepExpiredVisitors(now, retentionMs);
    t.ok(await store.getVisitor(A, 'recent'), 'a visitor seen an hour ago stays');
    t.ok(await store.getVisitor(A, 'fresh'), 'a visitor seen 29 days ago stays');
    if (kind === 'mongodb') {
      // On MongoDB the TTL index on lastSeen removes expired rows (the server's TTL monitor,
      // about once a minute); the sweep is a no-op that reports 0, and whether the monitor has
      // already run is not asserted here.
      t.equal(n, 0, 'MongoDB: the sweep returns 0 (the TTL index does the removal)');
      return;
    }
    t.equal(n, 3, 'SQLite: the count of rows removed, every account');
    t.equal(await store.getVisitor(A, 'old'), null, 'seen 31 days ago: removed');
    t.equal(await store.getVisitor(A, 'just-expired'), null, 'one millisecond past the retention: removed');
    t.equal(await store.getVisitor(B, 'old-b'), null, 'other accounts are swept too');
    t.ok(await store.getVisitor(A, 'boundary'), 'exactly at the retention: kept (strictly older is removed)');
    t.equal(await store.sweepExpiredVisitors(now, retentionMs), 0, 'a second sweep removes nothing');
    t.equal(await store.sweepExpiredVisitors(now, 7 * DAY_MS), 2, 'a shorter retention moves the boundary');
    t.same(await search(store, A, {}), ['recent'], 'only the recent visitor is left');
  });

  t.test('activity: append, list newest first with filters and pagination, scoped by account; purge by user key', async (t) => {
    const { store } = await open(t);
    const b = base();
    const at = (s: number) => new Date(b + s * 1000);
    const e1: ActivityEvent = { accountId: A, at: at(1), type: 'session_requested', agentId: 'alice', visitorId: 'v1' };
    const e2: ActivityEvent = { accountId: A, at: at(2), type: 'consent_given', visitorId: 'v1', userId: 'j***@example.com', userKey: 'key-1' };
    const e3: ActivityEvent = { accountId: A, at: at(3), type: 'control_granted', agentId: 'alice', visitorId: 'v1', detail: 'pointer+keyboard' };
    const e4: ActivityEvent = { accountId: A, at: at(3), type: 'session_requested', agentId: 'bob', visitorId: 'v2' };
    const e5: ActivityEvent = { accountId: A, at: at(4), type: 'session_ended', agentId: 'bob', visitorId: 'v2', userId: 'j***@example.com', userKey: 'key-1' };
    const e6: ActivityEvent = { accountId: A, at: at(5), type: 'data_deleted', detail: '1 visitor(s) deleted by admin' };
    const e7: ActivityEvent = { accountId: B, at: at(6), type: 'session_requested', agentId: 'alice', visitorId: 'v1', userKey: 'key-1' };
    await store.appendActivity([e1, e2, e3]);
    await store.appendActivity([e4, e5, e6, e7]);
    await t.resolves(store.appendActivity([]), 'an empty batch is harmless');

    const order = (es: ActivityEvent[]) => [...es].sort((x, y) => y.at.getTime() - x.at.getTime() || x.type.localeCompare(y.type));
    const list = async (q: Omit<ActivityQuery, 'limit'> & { limit?: number }, acc = A) => (await store.listActivity(acc, { limit: 100, ...q })).items;
    const all = await list({});
    t.equal(all.length, 6, "every entry of the account, none of another's");
    for (let i = 1; i < all.length; i++) t.ok(all[i - 1].at.getTime() >= all[i].at.getTime(), `newest first (${i})`);
    t.same(all[0], e6, 'the newest first, absent fields absent');
    t.same(all[all.length - 1], e1, 'the oldest last');
    t.same(order(all), order([e1, e2, e3, e4, e5, e6]), 'each entry comes back as written');
    t.ok(all.every((e) => e.at instanceof Date), 'at is a Date');
    t.same(await list({}, B), [e7], 'account B sees only its own entry');
    t.same(await list({}, 'acc_conf_none'), [], 'an unknown account: nothing');

    t.same(await list({ visitorId: 'v1' }), [e3, e2, e1], 'by visitor id');
    t.same(await list({ agentId: 'bob' }), [e5, e4], 'by agent id');
    t.same(await list({ type: 'session_requested' }), [e4, e1], 'by type');
    t.same(await list({ type: 'control_revoked' }), [], 'a type with no entries');
    t.same(order(await list({ since: at(3) })), order([e3, e4, e5, e6]), 'since is inclusive');
    t.same(await list({ until: at(3) }), [e2, e1], 'until is exclusive');
    t.same(order(await list({ since: at(2), until: at(4) })), order([e2, e3, e4]), 'since and until together');
    t.same(await list({ agentId: 'alice', since: at(2) }), [e3], 'filters combine (AND)');
    t.same(await list({ agentId: 'alice' }, B), [e7], 'filters stay within the account');

    for (const limit of [1, 2, 4, 6]) {
      const got = await allPages((cursor) => store.listActivity(A, { limit, cursor }), t, limit);
      t.equal(got.length, 6, `limit ${limit}: every entry`);
      t.same(got, all, `limit ${limit}: the same entries in the same order as one big page, none twice`);
    }
    const paged = await allPages((cursor) => store.listActivity(A, { limit: 1, cursor, since: at(2), until: at(5) }), t, 1);
    t.same(order(paged), order([e2, e3, e4, e5]), 'pagination with filters');

    t.equal(await store.purgeActivity(A, 'key-1'), 2, 'purge returns how many entries it removed');
    const left = await list({});
    t.same(order(left), order([e1, e3, e4, e6]), 'just those entries are gone');
    t.notOk(left.some((e) => e.userKey === 'key-1'), 'none with that user key left');
    t.same(await list({}, B), [e7], "the same user key in another account is not touched");
    t.equal(await store.purgeActivity(A, 'key-1'), 0, 'a second purge removes nothing');
    t.equal(await store.purgeActivity(A, 'key-unknown'), 0, 'an unknown key removes nothing');

    // Operator-set activity retention: entries strictly older than the cut-off go, in every account.
    t.equal(await store.sweepActivity(at(3)), 1, 'sweepActivity removes the entries before the cut-off');
    t.same(order(await list({})), order([e3, e4, e6]), 'entries at or after the cut-off stay');
    t.equal(await store.sweepActivity(at(3)), 0, 'a second sweep removes nothing');
  });

  t.test('deleteVisitors returns the user id and email each deleted record held', async (t) => {
    const { store } = await open(t);
    const at = new Date(base());
    await store.upsertVisitors([
      { accountId: A, visitorId: 'full', lastSeen: at, userId: 'u-9', email: 'nine@example.com' },
      { accountId: A, visitorId: 'bare', lastSeen: at },
    ]);
    const got = await store.deleteVisitors(A, { visitorIds: ['full', 'bare'] });
    const byId = new Map(got.map((d) => [d.visitorId, d]));
    t.same(byId.get('full'), { visitorId: 'full', userId: 'u-9', email: 'nine@example.com' }, 'identities of a record that had them');
    t.same(byId.get('bare'), { visitorId: 'bare' }, 'absent fields stay absent');
  });

  t.test('tombstones: live until expiry, scoped by account, idempotent (later expiry wins), kept across reopen', async (t) => {
    const s = await open(t);
    const now = new Date(base());
    const later = new Date(now.getTime() + 30 * DAY_MS);
    t.equal(await s.store.hasTombstone(A, 'k1', now), false, 'none before');
    await s.store.addTombstones([{ accountId: A, key: 'k1', expiresAt: later }, { accountId: A, key: 'k2', expiresAt: new Date(now.getTime() + 1000) }]);
    await t.resolves(s.store.addTombstones([]), 'an empty list is harmless');
    t.equal(await s.store.hasTombstone(A, 'k1', now), true, 'live');
    t.equal(await s.store.hasTombstone(B, 'k1', now), false, 'another account does not see it');
    t.equal(await s.store.hasTombstone(A, 'k1'.toUpperCase(), now), false, 'exact key');
    t.equal(await s.store.hasTombstone(A, 'k2', new Date(now.getTime() + 1000)), false, 'expired at its expiry');
    // Added again with an earlier expiry: the later one stays.
    await s.store.addTombstones([{ accountId: A, key: 'k1', expiresAt: new Date(now.getTime() + 5000) }]);
    t.equal(await s.store.hasTombstone(A, 'k1', new Date(now.getTime() + 10_000)), true, 'a later expiry is never shortened');
    await s.store.addTombstones([{ accountId: A, key: 'k2', expiresAt: later }]);
    t.equal(await s.store.hasTombstone(A, 'k2', new Date(now.getTime() + 10_000)), true, 'and can be extended');
    await s.store.close();
    const again = await s.reopen();
    t.teardown(() => again.close());
    t.equal(await again.hasTombstone(A, 'k1', now), true, 'a tombstone survives close and reopen (a restart)');
    const swept = await again.sweepTombstones(new Date(later.getTime() + 1));
    if (kind === 'mongodb') t.equal(swept, 0, 'MongoDB: the TTL index on expiresAt removes them; the sweep reports 0');
    else {
      t.equal(swept, 2, 'SQLite: the sweep removes expired tombstones');
      t.equal(await again.hasTombstone(A, 'k1', now), false, 'gone after the sweep');
    }
  });

  t.test('upsertVisitors never re-creates nor updates a tombstoned visitor', async (t) => {
    const { store } = await open(t);
    const now = base();
    await store.upsertVisitors([{ accountId: A, visitorId: 'alive', lastSeen: new Date(now), userId: 'u-a', tombstoneKey: 'key-alive' }]);
    await store.addTombstones([
      { accountId: A, key: 'key-dead', expiresAt: new Date(now + 30 * DAY_MS) },
      { accountId: A, key: 'key-alive', expiresAt: new Date(now + 30 * DAY_MS) },
      { accountId: A, key: 'key-old', expiresAt: new Date(now - 1) },
    ]);
    await store.upsertVisitors([
      { accountId: A, visitorId: 'dead', lastSeen: new Date(now + 1000), email: 'dead@example.com', tombstoneKey: 'key-dead' },
      { accountId: A, visitorId: 'alive', lastSeen: new Date(now + 1000), email: 'late@example.com', tombstoneKey: 'key-alive' },
      { accountId: A, visitorId: 'expired', lastSeen: new Date(now + 1000), tombstoneKey: 'key-old' },
      { accountId: B, visitorId: 'other', lastSeen: new Date(now + 1000), tombstoneKey: 'key-dead' },
      { accountId: A, visitorId: 'fresh', lastSeen: new Date(now + 1000), tombstoneKey: 'key-fresh' },
    ]);
    t.equal(await store.getVisitor(A, 'dead'), null, 'a tombstoned visitor is not created');
    t.equal((await store.getVisitor(A, 'alive'))?.email, undefined, 'a row whose visitor got tombstoned is not updated');
    t.ok(await store.getVisitor(A, 'expired'), 'an expired tombstone blocks nothing');
    t.ok(await store.getVisitor(B, 'other'), 'a tombstone of another account blocks nothing');
    const fresh = await store.getVisitor(A, 'fresh');
    t.ok(fresh, 'the rest of the batch is written');
    t.notOk(fresh && 'tombstoneKey' in fresh, 'the key is not part of the record');
  });

  t.test('scrubActivity: the person\'s identifiers go, the rest of the log stays', async (t) => {
    const { store } = await open(t);
    const b = base();
    const at = (s: number) => new Date(b + s * 1000);
    const pseudonym = (id: string) => `erased-${id.length}x`;
    const es: ActivityEvent[] = [
      { accountId: A, at: at(1), type: 'session_requested', agentId: 'alice', visitorId: 'v-gone' },
      { accountId: A, at: at(2), type: 'consent_given', agentId: 'alice', visitorId: 'v-gone', userId: 'j***@example.com', userKey: 'key-jane' },
      { accountId: A, at: at(3), type: 'session_ended', agentId: 'bob', visitorId: 'v-old-device', userId: 'j***@example.com', userKey: 'key-jane' },
      { accountId: A, at: at(4), type: 'consent_given', agentId: 'bob', visitorId: 'v-legacy', userId: 'u-clear' },
      { accountId: A, at: at(5), type: 'consent_given', agentId: 'bob', visitorId: 'v-keep', userId: 'j***@example.com', userKey: 'key-john' },
      { accountId: A, at: at(6), type: 'data_deleted', detail: '1 visitor(s) deleted by admin' },
      { accountId: B, at: at(7), type: 'consent_given', visitorId: 'v-gone', userId: 'j***@example.com', userKey: 'key-jane' },
    ];
    await store.appendActivity(es);
    const n = await store.scrubActivity(A, { visitorIds: ['v-gone'], userKeys: ['key-jane'], userIds: ['u-clear'], pseudonym });
    t.equal(n, 4, 'four entries changed, each counted once');
    const items = (await store.listActivity(A, { limit: 100 })).items;
    const byType = (type: string, agent?: string) => items.filter((e) => e.type === type && (agent === undefined || e.agentId === agent));
    t.same(byType('session_requested')[0], { ...es[0], visitorId: 'erased-6x' }, 'by visitor id: pseudonymised');
    t.same(byType('consent_given', 'alice')[0], { accountId: A, at: at(2), type: 'consent_given', agentId: 'alice', visitorId: 'erased-6x' }, 'user id and key removed too');
    t.same(byType('session_ended')[0], { accountId: A, at: at(3), type: 'session_ended', agentId: 'bob', visitorId: 'erased-12x' }, 'by user key: another visitor id of that person, pseudonymised');
    t.same(items.find((e) => e.at.getTime() === at(4).getTime()), { accountId: A, at: at(4), type: 'consent_given', agentId: 'bob', visitorId: 'erased-8x' }, 'by a user id kept in clear');
    t.same(items.find((e) => e.at.getTime() === at(5).getTime()), es[4], 'someone else with the same masked form is untouched');
    t.same(byType('data_deleted')[0], es[5], 'entries without identifiers are untouched');
    t.same((await store.listActivity(B, { limit: 10 })).items, [es[6]], 'another account is untouched');
    t.same((await store.listActivity(A, { visitorId: 'v-gone', limit: 10 })).items, [], 'the old visitor id finds nothing');
    t.equal(await store.scrubActivity(A, { visitorIds: ['v-gone'], userKeys: ['key-jane'], userIds: ['u-clear'], pseudonym }), 0, 'a second scrub changes nothing');
    t.equal(await store.scrubActivity(A, { visitorIds: [], userKeys: [], userIds: [], pseudonym }), 0, 'an empty scrub changes nothing');
  });

  t.test('vacuum resolves, and the store works on after it', async (t) => {
    const { store } = await open(t);
    await store.upsertVisitors([{ accountId: A, visitorId: 'v', lastSeen: new Date(base()) }]);
    const [r] = await Promise.all([store.vacuum(), store.upsertVisitors([{ accountId: A, visitorId: 'w', lastSeen: new Date(base()) }])]);
    t.ok(r.ms >= 0, `vacuum took ${r.ms.toFixed(1)} ms`);
    const both = await Promise.all([store.vacuum(), store.vacuum()]);
    t.equal(both.length, 2, 'concurrent vacuums both resolve');
    t.ok(await store.getVisitor(A, 'v'), 'data kept');
    t.ok(await store.getVisitor(A, 'w'), 'a write during the vacuum landed');
  });

  t.test('activity: appending an event again (a retry) keeps one entry', async (t) => {
    const { store } = await open(t);
    const at = new Date(base());
    const e1: ActivityEvent = { accountId: A, at, type: 'session_requested', agentId: 'alice', eventId: newEventId() };
    const e2: ActivityEvent = { accountId: A, at, type: 'consent_given', agentId: 'alice', eventId: newEventId() };
    const plain: ActivityEvent = { accountId: A, at, type: 'session_ended', agentId: 'alice' };
    await store.appendActivity([e1]);
    await store.appendActivity([e1, e2]); // the retry of a batch that had landed in part
    await store.appendActivity([e2]);
    await store.appendActivity([plain, plain]); // without ids: nothing is deduplicated
    const items = (await store.listActivity(A, { limit: 100 })).items;
    t.equal(items.filter((e) => e.type === 'session_requested').length, 1, 'e1 once');
    t.equal(items.filter((e) => e.type === 'consent_given').length, 1, 'e2 once');
    t.equal(items.filter((e) => e.type === 'session_ended').length, 2, 'events without an id are all kept');
    t.notOk(items.some((e) => 'eventId' in e), 'the event id is not part of what is read back');
  });
}

t.test('SQLite store conformance', async (t) => {
  storeConformance(t, 'sqlite', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-store-'));
    const store = new SqliteStore(dir);
    return {
      store,
      reopen: async () => new SqliteStore(dir),
      cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  });
});

t.test('SqliteStore specifics', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore(path.join(dir, 'nested', 'data'));
  t.teardown(() => store.close());
  t.ok(fs.existsSync(store.file), 'the database file exists in DATA_DIR, parents created');
  t.equal(path.basename(store.file), 'cobrowse.sqlite');
  t.equal(fs.statSync(path.dirname(store.file)).mode & 0o777, 0o700, 'DATA_DIR created 0700');
});

t.test('SqliteStore opens a data directory written before activity had event ids', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // The activity table as the previous release created it, with one entry in it.
  const old = new Database(path.join(dir, 'cobrowse.sqlite'));
  old.exec(`CREATE TABLE activity (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, at INTEGER NOT NULL, type TEXT NOT NULL,
    agent_id TEXT, visitor_id TEXT, user_id TEXT, user_key TEXT, detail TEXT)`);
  old.prepare('INSERT INTO activity (account_id, at, type, agent_id) VALUES (?, ?, ?, ?)').run('acc_old', Date.now(), 'session_requested', 'alice');
  old.close();

  const store = new SqliteStore(dir);
  t.teardown(() => store.close());
  const e: ActivityEvent = { accountId: 'acc_old', at: new Date(), type: 'consent_given', agentId: 'alice', eventId: newEventId() };
  await store.appendActivity([e]);
  await store.appendActivity([e]);
  const items = (await store.listActivity('acc_old', { limit: 10 })).items;
  t.same(items.map((x) => x.type).sort(), ['consent_given', 'session_requested'], 'the old entry is kept, the new one is stored once');
  const reopened = new SqliteStore(dir); // migrating twice is harmless
  t.equal((await reopened.listActivity('acc_old', { limit: 10 })).items.length, 2);
  await reopened.close();
});

t.test('SqliteStore drops the last_seen index an older relay made; the sweep goes account by account through (account_id, last_seen)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  await new SqliteStore(dir).close();
  const old = new Database(path.join(dir, 'cobrowse.sqlite'));
  old.exec('CREATE INDEX visitors_last_seen ON visitors (last_seen)'); // as the previous release had it
  old.close();

  const store = new SqliteStore(dir);
  t.teardown(() => store.close());
  const db = new Database(store.file, { readonly: true });
  t.teardown(() => db.close());
  const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'visitors'").all() as Array<{ name: string }>).map((r) => r.name);
  t.notOk(indexes.includes('visitors_last_seen'), 'the index is gone after opening');
  t.ok(indexes.includes('visitors_account_seen'), 'the per-account one is there');
  const plan = (db.prepare('EXPLAIN QUERY PLAN DELETE FROM visitors WHERE account_id = ? AND last_seen < ?').all('a', 1) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  t.match(plan, /USING INDEX visitors_account_seen \(account_id=\? AND last_seen<\?\)/, `the sweep's delete is an index range (${plan})`);

  // Ten accounts, each with an expired and a fresh visitor: every expired one goes, every fresh one stays.
  const now = new Date();
  const accounts = Array.from({ length: 10 }, (_, i) => `acc_sweep_${i}`);
  await store.upsertVisitors(accounts.flatMap((a) => [
    { accountId: a, visitorId: 'expired', lastSeen: new Date(now.getTime() - 31 * DAY_MS) },
    { accountId: a, visitorId: 'fresh', lastSeen: new Date(now.getTime() - DAY_MS) },
  ]));
  t.equal(await store.sweepExpiredVisitors(now, 30 * DAY_MS), 10, 'one expired visitor removed per account');
  for (const a of accounts) {
    t.equal(await store.getVisitor(a, 'expired'), null, `${a}: the expired visitor is gone`);
    t.ok(await store.getVisitor(a, 'fresh'), `${a}: the fresh one stays`);
  }
  await store.close();
  await new SqliteStore(dir).close(); // migrating twice is harmless
});

const mongoUrl = process.env.MONGODB_URL;
if (mongoUrl) {
  t.test('MongoDB store conformance (real server at MONGODB_URL)', async (t) => {
    storeConformance(t, 'mongodb', async () => {
      const dbName = `cobrowse_test_${process.pid}_${crypto.randomBytes(6).toString('hex')}`;
      const store = await MongoStore.connect(mongoUrl, dbName);
      return {
        store,
        reopen: () => MongoStore.connect(mongoUrl, dbName),
        cleanup: async () => {
          const client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5000 });
          try {
            await client.connect();
            await client.db(dbName).dropDatabase();
          } finally {
            await client.close();
          }
        },
      };
    });
    t.test('indexes exist on the server as specified', async (t) => {
      const dbName = `cobrowse_test_idx_${process.pid}_${crypto.randomBytes(6).toString('hex')}`;
      const store = await MongoStore.connect(mongoUrl, dbName);
      const client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5000 });
      t.teardown(async () => {
        await store.close();
        await client.db(dbName).dropDatabase().catch(() => {});
        await client.close();
      });
      await client.connect();
      const idx = await client.db(dbName).collection('accounts').indexes();
      for (const spec of ACCOUNT_INDEXES) {
        const found = idx.find((i) => i.name === spec.name);
        t.ok(found, `index ${spec.name} exists`);
        t.equal(found?.unique, true, `${spec.name} is unique`);
      }
    });
  });
} else {
  t.comment('MongoDB conformance run SKIPPED: MONGODB_URL is not set');
  t.test('MongoDB store conformance', { skip: 'MongoDB conformance run SKIPPED: MONGODB_URL is not set' }, () => {});
}

t.test('MongoDB store, without a server: index specs, filters and documents as data', async (t) => {
  t.equal(ACCOUNT_INDEXES.length, 2, 'two account indexes');
  const byKey = new Map(ACCOUNT_INDEXES.map((i) => [Object.keys(i.key).join(','), i]));
  t.same(byKey.get('publicKey')?.key, { publicKey: 1 }, 'publicKey index, ascending, single field');
  t.equal(byKey.get('publicKey')?.unique, true, 'publicKey index is unique');
  t.same(byKey.get('name')?.key, { name: 1 }, 'name index, ascending, single field');
  t.equal(byKey.get('name')?.unique, true, 'name index is unique');
  t.equal(new Set(ACCOUNT_INDEXES.map((i) => i.name)).size, 2, 'index names are distinct');
  for (const i of ACCOUNT_INDEXES) {
    t.notOk('expireAfterSeconds' in i, `${i.name}: accounts never expire`);
    t.notOk('partialFilterExpression' in i || 'sparse' in i, `${i.name}: uniqueness covers every document`);
  }

  t.same(accountByPublicKeyFilter('pk_abc'), { publicKey: 'pk_abc' }, 'a plain equality filter');
  const smuggled = accountByPublicKeyFilter({ $ne: null } as unknown as string);
  t.equal(typeof smuggled.publicKey, 'string', 'an object is coerced to a string');
  t.same(Object.keys(smuggled), ['publicKey'], 'only the publicKey field');
  t.notOk(JSON.stringify(smuggled).includes('"$'), 'no $ operator key anywhere in the filter');
  const viaToString = accountByPublicKeyFilter({ toString: () => 'pk_x' } as unknown as string);
  t.same(viaToString, { publicKey: 'pk_x' });
  // Through the driver's own serialiser, the value stays a BSON string.
  const wire = BSON.deserialize(BSON.serialize(accountByPublicKeyFilter({ $gt: '' } as unknown as string)));
  t.equal(typeof wire.publicKey, 'string', 'serialised filter carries a string, not an operator document');

  // Documents, through the same BSON serialiser (and default options) the driver uses.
  const a = await account({ agentKey: { alg: 'ES256', pem: ecPem } });
  const doc = accountToDoc(a);
  t.equal(doc._id, a.id, 'the account id is the document _id');
  t.notOk('id' in doc, 'no separate id field');
  const back = accountFromDoc(BSON.deserialize(BSON.serialize(doc, { ignoreUndefined: false })) as ReturnType<typeof accountToDoc>);
  t.same(back, a, 'account -> document -> BSON -> document -> account is lossless');
  t.ok(back?.createdAt instanceof Date, 'createdAt comes back as a Date');
  const noKey = await account();
  const noKeyDoc = BSON.deserialize(BSON.serialize(accountToDoc(noKey), { ignoreUndefined: false }));
  t.notOk('agentKey' in noKeyDoc, 'an absent agentKey is not written (the driver would store undefined as null)');
  const noKeyBack = accountFromDoc(noKeyDoc as ReturnType<typeof accountToDoc>);
  t.same(noKeyBack, noKey, 'and reads back without one');
  t.equal(noKeyBack?.agentKey, undefined);
  const legacy = accountFromDoc({ ...accountToDoc(noKey), agentKey: null } as unknown as ReturnType<typeof accountToDoc>);
  t.equal(legacy?.agentKey, undefined, 'a stored null agentKey reads as absent');
  t.equal(accountFromDoc(null), null);
});
