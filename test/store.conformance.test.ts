/**
 * One conformance suite for the Store interface, run on every implementation:
 * SQLite always (a real file in a fresh temp dir), MongoDB only against a real server
 * named by MONGODB_URL. Without it the MongoDB run is reported as SKIPPED, never as passed.
 * What the MongoDB store builds without a server (index specs, filters, documents) is
 * unit-tested below as data.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON, MongoClient } from 'mongodb';
import t from 'tap';
import { hashSecret, makeSecretKey, randomId } from '../relay/auth/secrets.ts';
import { ACCOUNT_INDEXES, MongoStore, accountByPublicKeyFilter, accountFromDoc, accountToDoc } from '../relay/store/mongo.ts';
import { SqliteStore } from '../relay/store/sqlite.ts';
import { StoreConflictError, type AccountRecord, type Store } from '../relay/store/types.ts';

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
