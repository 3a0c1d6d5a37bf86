/**
 * What the MongoDB store sends to the server for visitors and activity (relay/store/mongoDocs.ts),
 * unit-tested as data. No MongoDB server runs here (see README, "Running against MongoDB"): these tests check the index
 * specs, filters and update documents themselves, and put them through the driver's own BSON
 * serialiser; they do not claim that a server accepted them. The store itself runs against a
 * real server only in test/e2e/store/conformance.test.ts when MONGODB_URL is set.
 */
import { BSON, MongoBulkWriteError } from 'mongodb';
import { newEventId } from '../../../../relay/metadata/eventId.ts';
import t from 'tap';
import {
  ACTIVITY_INDEXES, DAY_SECONDS, DUPLICATE_KEY, TOMBSTONE_INDEXES, TTL_INDEX_NAME, activityFilter, activityScrubFilter, activityScrubOps, activityToDoc,
  liveTombstonesFilter, onlyDuplicateKeys, tombstoneUpsertOp, ttlCollMod, visitorDeleteFilter, visitorIndexes, visitorSearchFilter, visitorUpsertOp,
} from '../../../../relay/store/mongoDocs.ts';
import { accountSecretUpdate } from '../../../../relay/store/mongo.ts';
import type { ActivityEvent, VisitorUpdate } from '../../../../relay/store/types.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

/** Through the driver's serialiser and back, with its default options (undefined -> null unless left out). */
const wire = (d: unknown): Doc => BSON.deserialize(BSON.serialize(d as Doc, { ignoreUndefined: false }));
const op = (u: VisitorUpdate) => (visitorUpsertOp(u) as { updateOne: { filter: Doc; update: Doc; upsert?: boolean } }).updateOne;
/** The regex a `{ $regex, $options }` condition would run, as a JS RegExp (same syntax for these patterns). */
const asRegExp = (c: Doc) => new RegExp(c.$regex, c.$options);
const smuggle = { $ne: null } as any;

t.test('visitorIndexes: TTL on lastSeen, unique (accountId, visitorId), search indexes', async (t) => {
  t.equal(DAY_SECONDS, 86_400);
  const idx = visitorIndexes(30);
  const ttl = idx.find((i) => i.expireAfterSeconds !== undefined);
  t.ok(ttl, 'a TTL index exists');
  t.same(ttl?.key, { lastSeen: 1 }, 'on { lastSeen: 1 }, a single field (TTL indexes must be single-field)');
  t.equal(ttl?.expireAfterSeconds, 2_592_000, '30 days = exactly 2592000 seconds');
  t.equal(ttl?.name, TTL_INDEX_NAME, 'named, so a changed retention can be applied with collMod');
  t.equal(idx.filter((i) => i.expireAfterSeconds !== undefined).length, 1, 'exactly one TTL index');

  const unique = idx.filter((i) => i.unique);
  t.equal(unique.length, 1, 'one unique index');
  t.same(unique[0]?.key, { accountId: 1, visitorId: 1 }, 'unique on { accountId: 1, visitorId: 1 }');
  t.same(Object.keys(unique[0]?.key ?? {}), ['accountId', 'visitorId'], 'key order: account first');
  t.notOk(unique[0] && ('partialFilterExpression' in unique[0] || 'sparse' in unique[0]), 'uniqueness covers every document');

  const keys = idx.map((i) => JSON.stringify(i.key));
  t.ok(keys.includes(JSON.stringify({ accountId: 1, lastSeen: -1, visitorId: -1 })), 'newest-first listing per account (the search sort)');
  for (const f of ['userId', 'email', 'lookupCode']) {
    t.ok(keys.includes(JSON.stringify({ accountId: 1, [f]: 1 })), `search by ${f} within an account`);
  }
  t.equal(new Set(idx.map((i) => i.name)).size, idx.length, 'index names are distinct');
  t.ok(idx.every((i) => typeof i.name === 'string' && i.name.length > 0), 'every index is named');
  t.ok(idx.filter((i) => i !== ttl).every((i) => i.expireAfterSeconds === undefined), 'only the TTL index expires documents');

  for (const [days, secs] of [[1, 86_400], [7, 604_800], [90, 7_776_000], [365, 31_536_000], [3650, 315_360_000]] as const) {
    t.equal(visitorIndexes(days).find((i) => i.name === TTL_INDEX_NAME)?.expireAfterSeconds, secs, `${days} day(s) = ${secs} s`);
  }
  for (const bad of [0, -1, 1.5, 0.5, NaN, Infinity, -Infinity, '30' as unknown as number, undefined as unknown as number]) {
    t.throws(() => visitorIndexes(bad), `retention ${String(bad)} (${typeof bad}) throws`);
  }

  // Activity: kept indefinitely, listed newest first per account, purged by user key.
  t.notOk(ACTIVITY_INDEXES.some((i) => i.expireAfterSeconds !== undefined), 'the activity log has no TTL');
  t.ok(ACTIVITY_INDEXES.some((i) => JSON.stringify(i.key) === JSON.stringify({ accountId: 1, at: -1, _id: -1 })), 'activity: newest first per account');
  t.ok(ACTIVITY_INDEXES.some((i) => JSON.stringify(i.key) === JSON.stringify({ accountId: 1, userKey: 1 })), 'activity: purge by user key');
  t.same(wire({ i: visitorIndexes(30) }).i, JSON.parse(JSON.stringify(visitorIndexes(30))), 'the specs survive BSON unchanged');
});

t.test('ttlCollMod: nothing when the TTL already matches, the exact collMod otherwise', async (t) => {
  t.equal(ttlCollMod(2_592_000, 30), undefined, 'equal: no command');
  t.equal(ttlCollMod(604_800, 7), undefined, 'equal (7 days): no command');
  t.same(ttlCollMod(2_592_000, 7), { collMod: 'visitors', index: { name: 'lastSeen_ttl', expireAfterSeconds: 604_800 } }, '30 -> 7 days');
  t.same(ttlCollMod(604_800, 30), { collMod: 'visitors', index: { name: 'lastSeen_ttl', expireAfterSeconds: 2_592_000 } }, '7 -> 30 days');
  t.same(ttlCollMod(undefined, 30), { collMod: 'visitors', index: { name: TTL_INDEX_NAME, expireAfterSeconds: 2_592_000 } }, 'unknown current: set it');
  t.same(ttlCollMod(2_592_001, 30), { collMod: 'visitors', index: { name: TTL_INDEX_NAME, expireAfterSeconds: 2_592_000 } }, 'off by one second: set it');
  const cmd = ttlCollMod(1, 30);
  t.same(Object.keys(cmd ?? {}), ['collMod', 'index'], 'collMod is the first key (the command name must come first)');
  t.same(Object.keys(wire(cmd))[0], 'collMod', 'and stays first through BSON');
});

t.test('visitorUpsertOp: the update document', async (t) => {
  const lastSeen = new Date('2030-05-06T07:08:09.123Z');
  const min = op({ accountId: 'acc_1', visitorId: 'v_1', lastSeen });
  t.same(min.filter, { accountId: 'acc_1', visitorId: 'v_1' }, 'filter is { accountId, visitorId }');
  t.same(Object.keys(min.filter), ['accountId', 'visitorId'], 'and nothing else');
  t.equal(min.upsert, true, 'upsert: true');
  t.ok(min.update.$max.lastSeen instanceof Date, '$max.lastSeen is a Date');
  t.equal(min.update.$max.lastSeen.getTime(), lastSeen.getTime(), "$max.lastSeen = the update's lastSeen");
  t.not(min.update.$max.lastSeen, lastSeen, 'a copy, not the caller\'s Date object');
  t.ok(min.update.$setOnInsert.firstSeen instanceof Date, '$setOnInsert.firstSeen is a Date');
  t.equal(min.update.$setOnInsert.firstSeen.getTime(), lastSeen.getTime(), 'firstSeen = lastSeen, on insert only');
  t.equal(min.update.$setOnInsert.ip, '', 'ip absent: "" on insert only');
  t.equal(min.update.$setOnInsert.lastUrl, '', 'lastUrl absent: "" on insert only');
  t.equal(min.update.$set, undefined, 'nothing to $set: no $set at all (an empty $set is an error on older servers)');
  t.same(Object.keys(min.update).sort(), ['$max', '$setOnInsert'], 'only $max and $setOnInsert');
  t.notOk('lastSeen' in min.update.$setOnInsert, 'lastSeen is not also in $setOnInsert (conflict)');

  const expires = new Date('2030-05-06T07:18:09.123Z');
  const full = op({
    accountId: 'acc_1', visitorId: 'v_1', lastSeen, ip: '203.0.113.9', lastUrl: 'https://shop.example.com/x',
    userId: 'u-1', name: 'Jane', email: 'jane@example.com', lookupCode: '123456', lookupCodeExpiresAt: expires,
  });
  t.same(full.update.$set, {
    ip: '203.0.113.9', lastUrl: 'https://shop.example.com/x', userId: 'u-1', name: 'Jane', email: 'jane@example.com', lookupCode: '123456',
    lookupCodeExpiresAt: expires,
  }, 'every defined field is $set');
  t.ok(full.update.$set.lookupCodeExpiresAt instanceof Date, 'lookupCodeExpiresAt is a Date');
  t.same(full.update.$setOnInsert, { firstSeen: lastSeen }, 'given ip/lastUrl are not in $setOnInsert');
  const inBoth = Object.keys(full.update.$set).filter((k) => k in full.update.$setOnInsert);
  t.same(inBoth, [], 'no field in both $set and $setOnInsert (the server refuses that)');

  const partial = op({ accountId: 'acc_1', visitorId: 'v_1', lastSeen, lastUrl: 'https://shop.example.com/y', name: undefined, email: undefined });
  t.same(partial.update.$set, { lastUrl: 'https://shop.example.com/y' }, 'undefined fields are absent from $set (not null, not "")');
  t.same(partial.update.$setOnInsert, { firstSeen: lastSeen, ip: '' }, 'absent ip still defaults to "" on insert');
  for (const k of ['userId', 'name', 'email', 'lookupCode', 'lookupCodeExpiresAt']) {
    t.notOk(k in partial.update.$set, `${k} not in $set`);
    t.notOk(k in partial.update.$setOnInsert, `${k} not in $setOnInsert`);
  }
  const emptyStrings = op({ accountId: 'a', visitorId: 'v', lastSeen, ip: '', name: '' });
  t.same(emptyStrings.update.$set, { ip: '', name: '' }, 'an empty string is a value: it is $set');

  t.throws(() => visitorUpsertOp({ accountId: 'a', visitorId: 'v', lastSeen: new Date('not a date') }), 'an invalid Date throws');
  t.throws(() => visitorUpsertOp({ accountId: 'a', visitorId: 'v', lastSeen: new Date(NaN) }), 'NaN time throws');

  const hostile = op({ accountId: smuggle, visitorId: { $gt: '' } as any, lastSeen, userId: smuggle, email: { $regex: '.*' } as any });
  t.equal(typeof hostile.filter.accountId, 'string', 'an operator object as accountId becomes a string in the filter');
  t.equal(typeof hostile.filter.visitorId, 'string', 'and as visitorId');
  t.equal(typeof hostile.update.$set.userId, 'string', 'an operator object as userId is $set as a string');
  t.equal(typeof hostile.update.$set.email, 'string', 'and as email');
  t.notOk(JSON.stringify(hostile.filter).includes('"$'), 'no operator key anywhere in the filter');

  // Through the driver's serialiser: Dates stay BSON dates, strings stay strings, nothing is null.
  const w = wire(full);
  t.ok(w.update.$max.lastSeen instanceof Date, 'BSON: $max.lastSeen is still a Date');
  t.equal(w.update.$max.lastSeen.getTime(), lastSeen.getTime(), 'to the millisecond');
  t.ok(w.update.$setOnInsert.firstSeen instanceof Date, 'BSON: firstSeen is still a Date');
  t.ok(w.update.$set.lookupCodeExpiresAt instanceof Date, 'BSON: lookupCodeExpiresAt is still a Date');
  const wp = wire(partial);
  t.same(Object.keys(wp.update.$set), ['lastUrl'], 'BSON: undefined fields are not serialised as null');
  const wh = wire(hostile);
  t.equal(typeof wh.filter.accountId, 'string', 'BSON: the coerced accountId is a string, not a document');
  t.equal(typeof wh.update.$set.userId, 'string', 'BSON: the coerced userId is a string');
});

t.test('visitorSearchFilter: scoped, coerced, regex metacharacters escaped', async (t) => {
  t.same(visitorSearchFilter('acc_1', { limit: 10 }), { accountId: 'acc_1' }, 'no criteria: the account only');
  t.same(visitorSearchFilter('acc_1', { limit: 10, userId: 'u-1' }), { $and: [{ accountId: 'acc_1' }, { userId: 'u-1' }] }, 'by user id');
  t.same(visitorSearchFilter('acc_1', { limit: 10, lookupCode: '123456' }), { $and: [{ accountId: 'acc_1' }, { lookupCode: '123456' }] }, 'by lookup code');
  t.same(visitorSearchFilter('acc_1', { limit: 10, onlyVisitorIds: ['v1', 'v2'] }), { $and: [{ accountId: 'acc_1' }, { visitorId: { $in: ['v1', 'v2'] } }] }, 'only the online set');
  t.same(visitorSearchFilter('acc_1', { limit: 10, exceptVisitorIds: ['v1'] }), { $and: [{ accountId: 'acc_1' }, { visitorId: { $nin: ['v1'] } }] }, 'all but the online set');
  t.same(visitorSearchFilter('acc_1', { limit: 10, onlyVisitorIds: [{ $gt: '' }] as unknown as string[] }), { $and: [{ accountId: 'acc_1' }, { visitorId: { $in: ['[object Object]'] } }] }, 'ids are coerced to strings: no operator smuggling');
  const since = new Date('2030-01-01T00:00:00.000Z');
  const bySince = visitorSearchFilter('acc_1', { limit: 10, seenSince: since }) as Doc;
  t.same(bySince, { $and: [{ accountId: 'acc_1' }, { lastSeen: { $gte: since } }] }, 'seenSince: $gte (inclusive)');
  t.ok(wire(bySince).$and[1].lastSeen.$gte instanceof Date, 'seenSince stays a Date through BSON');

  const byEmail = visitorSearchFilter('acc_1', { limit: 10, email: 'j.doe+x@example.com' }) as Doc;
  const emailCond = byEmail.$and[1].email;
  t.equal(emailCond.$options, 'i', 'email: case-insensitive');
  t.equal(emailCond.$regex, '^j\\.doe\\+x@example\\.com$', 'email: anchored, metacharacters escaped');
  t.ok(asRegExp(emailCond).test('J.DOE+X@EXAMPLE.COM'), 'matches the same address in any case');
  t.notOk(asRegExp(emailCond).test('jXdoe+x@example.com'), 'an escaped "." does not match another character');
  t.notOk(asRegExp(emailCond).test('j.doe+x@example.com.evil'), 'anchored: no longer string');
  t.notOk(asRegExp(emailCond).test('xj.doe+x@example.com'), 'anchored: no prefix');

  const meta = '.*+?^${}()|[]\\/';
  const byQ = visitorSearchFilter('acc_1', { limit: 10, q: meta }) as Doc;
  const or = byQ.$and[1].$or as Doc[];
  t.same(or.map((c) => Object.keys(c)[0]), ['userId', 'name', 'email', 'lastUrl'], 'q: across user id, name, email and URL');
  const re = or[0].userId;
  t.ok(or.every((c) => JSON.stringify(Object.values(c)[0]) === JSON.stringify(re)), 'the same condition on each field');
  t.equal(re.$options, 'i', 'q: case-insensitive');
  t.doesNotThrow(() => asRegExp(re), 'the escaped pattern compiles');
  t.ok(asRegExp(re).test(`before ${meta} after`), 'matches the literal text as a substring');
  t.notOk(asRegExp(re).test('anything else at all'), 'does not act as a wildcard');
  for (const [q, yes, no] of [['a.c', 'xa.cx', 'abc'], ['a*', 'a*', 'bbb'], ['(x)', '(x)', 'x'], ['[ab]', '[ab]', 'a'], ['a|b', 'a|b', 'b'], ['^a$', '^a$', 'a'], ['\\d', '\\d', '5']] as const) {
    const c = ((visitorSearchFilter('a', { limit: 1, q }) as Doc).$and[1].$or as Doc[])[0].userId;
    t.ok(asRegExp(c).test(yes), `q ${JSON.stringify(q)} matches ${JSON.stringify(yes)}`);
    t.notOk(asRegExp(c).test(no), `q ${JSON.stringify(q)} does not match ${JSON.stringify(no)}`);
  }
  t.same(visitorSearchFilter('acc_1', { limit: 10, q: '' }), { accountId: 'acc_1' }, 'an empty q adds nothing');

  const hostile = visitorSearchFilter(smuggle, { limit: 10, userId: smuggle, lookupCode: smuggle, email: smuggle }) as Doc;
  t.equal(typeof hostile.$and[0].accountId, 'string', 'an operator object as accountId becomes a string');
  t.equal(typeof hostile.$and[1].userId, 'string', 'an operator object as userId becomes a string');
  t.equal(typeof hostile.$and[2].email.$regex, 'string', 'as email: a string pattern');
  t.equal(typeof hostile.$and[3].lookupCode, 'string', 'as lookup code: a string');
  const wh = wire(hostile);
  t.equal(typeof wh.$and[1].userId, 'string', 'BSON: still a string, not an operator document');

  const cursorAt = new Date('2030-02-03T04:05:06.789Z');
  const paged = visitorSearchFilter('acc_1', { limit: 10 }, { timeMs: cursorAt.getTime(), tie: 'v_m' }) as Doc;
  t.same(paged, {
    $and: [{ accountId: 'acc_1' }, { $or: [{ lastSeen: { $lt: cursorAt } }, { lastSeen: cursorAt, visitorId: { $lt: 'v_m' } }] }],
  }, 'cursor: strictly after (lastSeen, visitorId) in newest-first order');
  t.ok(wire(paged).$and[1].$or[1].lastSeen instanceof Date, 'the cursor time is a Date through BSON');
});

t.test('visitorDeleteFilter: nothing for an empty filter; always the account', async (t) => {
  t.equal(visitorDeleteFilter('acc_1', {}), undefined, 'empty filter: undefined (nothing is deleted by accident)');
  t.equal(visitorDeleteFilter('acc_1', { visitorIds: [], userIds: [], emails: [] }), undefined, 'only empty lists: undefined');
  t.same(visitorDeleteFilter('acc_1', { visitorIds: ['v1', 'v2'] }), { accountId: 'acc_1', $or: [{ visitorId: { $in: ['v1', 'v2'] } }] }, 'by visitor ids');
  t.same(visitorDeleteFilter('acc_1', { userIds: ['u1'] }), { accountId: 'acc_1', $or: [{ userId: { $in: ['u1'] } }] }, 'by user ids');
  const byEmail = visitorDeleteFilter('acc_1', { emails: ['A.b@x.com', 'c@y.org'] }) as Doc;
  t.equal(byEmail.accountId, 'acc_1');
  t.same(byEmail.$or, [
    { email: { $regex: '^A\\.b@x\\.com$', $options: 'i' } },
    { email: { $regex: '^c@y\\.org$', $options: 'i' } },
  ], 'by emails: anchored, escaped, case-insensitive, one condition each');
  t.notOk(asRegExp(byEmail.$or[0].email).test('aXb@x.com'), 'the escaped "." is literal');
  t.ok(asRegExp(byEmail.$or[0].email).test('a.B@X.COM'), 'case-insensitive');
  t.same(visitorDeleteFilter('acc_1', { allExcept: ['live1'] }), { accountId: 'acc_1', $or: [{ visitorId: { $nin: ['live1'] } }] }, 'all except');
  t.same(visitorDeleteFilter('acc_1', { allExcept: [] }), { accountId: 'acc_1', $or: [{ visitorId: { $nin: [] } }] }, 'all except none: the whole account (still scoped)');
  const combined = visitorDeleteFilter('acc_1', { visitorIds: ['v1'], userIds: ['u1'], emails: ['e@x.io'], allExcept: ['v9'] }) as Doc;
  t.equal(combined.$or.length, 4, 'criteria combine with OR');
  t.equal(combined.accountId, 'acc_1', 'and the account always applies (AND)');
  for (const f of [{ visitorIds: ['v'] }, { userIds: ['u'] }, { emails: ['e'] }, { allExcept: [] }]) {
    const d = visitorDeleteFilter('acc_9', f) as Doc;
    t.equal(d.accountId, 'acc_9', `${Object.keys(f)[0]}: accountId included`);
  }
  const hostile = visitorDeleteFilter(smuggle, { visitorIds: [smuggle], userIds: [smuggle], emails: [smuggle], allExcept: [smuggle] }) as Doc;
  t.equal(typeof hostile.accountId, 'string', 'an operator object as accountId becomes a string');
  t.equal(typeof hostile.$or[0].visitorId.$in[0], 'string', 'visitor ids are strings');
  t.equal(typeof hostile.$or[1].userId.$in[0], 'string', 'user ids are strings');
  t.equal(typeof hostile.$or[2].email.$regex, 'string', 'emails become string patterns');
  t.equal(typeof hostile.$or[3].visitorId.$nin[0], 'string', 'all-except ids are strings');
  t.equal(typeof wire(hostile).accountId, 'string', 'BSON: still a string');
});

t.test('activityFilter', async (t) => {
  t.same(activityFilter('acc_1', { limit: 5 }), { accountId: 'acc_1' }, 'the account only');
  const since = new Date('2030-01-01T00:00:00.000Z');
  const until = new Date('2030-02-01T00:00:00.000Z');
  t.same(activityFilter('acc_1', { limit: 5, visitorId: 'v1', agentId: 'alice', type: 'control_granted', since, until }), {
    accountId: 'acc_1', visitorId: 'v1', agentId: 'alice', type: 'control_granted', at: { $gte: since, $lt: until },
  }, 'every criterion; since inclusive, until exclusive');
  t.same(activityFilter('acc_1', { limit: 5, since }), { accountId: 'acc_1', at: { $gte: since } }, 'since alone');
  t.same(activityFilter('acc_1', { limit: 5, until }), { accountId: 'acc_1', at: { $lt: until } }, 'until alone');
  const w = wire(activityFilter('acc_1', { limit: 5, since, until }));
  t.ok(w.at.$gte instanceof Date && w.at.$lt instanceof Date, 'since/until stay Dates through BSON');
  const cursorAt = new Date('2030-01-15T00:00:00.000Z');
  const tie = new BSON.ObjectId();
  const paged = activityFilter('acc_1', { limit: 5 }, { timeMs: cursorAt.getTime(), tie: tie as unknown as string }) as Doc;
  t.same(paged.$or, [{ at: { $lt: cursorAt } }, { at: cursorAt, _id: { $lt: tie } }], 'cursor: strictly after (at, _id)');
  t.ok(wire(paged).$or[1]._id.$lt instanceof BSON.ObjectId, 'the tie-breaker stays an ObjectId through BSON');
  const hostile = activityFilter(smuggle, { limit: 5, visitorId: smuggle, agentId: smuggle, type: smuggle }) as Doc;
  for (const k of ['accountId', 'visitorId', 'agentId', 'type']) t.equal(typeof hostile[k], 'string', `${k}: an operator object becomes a string`);
});

t.test('activityToDoc drops undefined fields; Dates survive BSON', async (t) => {
  const at = new Date('2030-03-04T05:06:07.890Z');
  const e: ActivityEvent = { accountId: 'acc_1', at, type: 'consent_given', agentId: undefined, visitorId: 'v1', userId: undefined, userKey: undefined, detail: undefined };
  const d = activityToDoc(e);
  t.same(Object.keys(d).sort(), ['accountId', 'at', 'type', 'visitorId'], 'only defined fields');
  t.notOk(Object.values(d).some((v) => v === undefined), 'no undefined value');
  const w = wire(d);
  t.same(Object.keys(w).sort(), ['accountId', 'at', 'type', 'visitorId'], 'BSON: no nulls for absent fields');
  t.ok(w.at instanceof Date, 'at is a Date through BSON');
  t.equal(w.at.getTime(), at.getTime(), 'to the millisecond');
  const full: ActivityEvent = { accountId: 'a', at, type: 'data_deleted', agentId: 'x', visitorId: 'y', userId: 'j***@example.com', userKey: 'k', detail: 'd' };
  t.same(activityToDoc(full), full, 'a full event is kept whole');
  t.not(activityToDoc(full), full, 'as a new object');
  t.same(wire(activityToDoc(full)), full, 'and survives BSON unchanged');
});

t.test('accountSecretUpdate: exact id, only the hash is set, strings only', async (t) => {
  t.same(accountSecretUpdate('acc_1', 'scrypt$h'), { filter: { _id: 'acc_1' }, update: { $set: { secretHash: 'scrypt$h' } } });
  const hostile = accountSecretUpdate({ $ne: '' } as unknown as string, { $x: 1 } as unknown as string);
  t.equal(typeof hostile.filter._id, 'string', 'an operator object as id becomes a string');
  t.equal(typeof hostile.update.$set.secretHash, 'string');
});

t.test('activityToDoc: the event id is the _id (a retried append is a duplicate key, not a second entry)', async (t) => {
  const at = new Date('2030-03-04T05:06:07.890Z');
  const eventId = newEventId(at.getTime());
  t.match(eventId, /^[0-9a-f]{24}$/, 'an event id is 24 hex characters');
  const d = activityToDoc({ accountId: 'a', at, type: 'session_requested', eventId }) as unknown as Doc;
  t.ok(d._id instanceof BSON.ObjectId, '_id is an ObjectId');
  t.equal(d._id.toHexString(), eventId, 'made from the event id');
  t.notOk('eventId' in d, 'no separate eventId field');
  t.equal(wire(d)._id.toHexString(), eventId, 'and it survives BSON');
  t.equal(d._id.getTimestamp().getTime(), Math.floor(at.getTime() / 1000) * 1000, 'ObjectId layout: its time is the creation second');
  const ids = Array.from({ length: 1000 }, () => newEventId(at.getTime()));
  t.equal(new Set(ids).size, ids.length, 'unique');
  t.same([...ids].sort(), ids, 'increasing within a second, so _id order is creation order');
  t.throws(() => activityToDoc({ accountId: 'a', at, type: 'session_requested', eventId: 'not-hex' }), /eventId/, 'a malformed id is refused');
});

t.test('onlyDuplicateKeys: a retried append that found its events already stored succeeded', async (t) => {
  const bulk = (codes: number[]) => new MongoBulkWriteError({ message: 'bulk', code: codes[0], writeErrors: codes.map((code, index) => ({ code, index, errmsg: 'x' })) } as never, {} as never);
  t.ok(onlyDuplicateKeys(bulk([DUPLICATE_KEY])), 'one duplicate key: fine');
  t.ok(onlyDuplicateKeys(bulk([DUPLICATE_KEY, DUPLICATE_KEY])), 'several: fine');
  t.notOk(onlyDuplicateKeys(bulk([DUPLICATE_KEY, 121])), 'a validation error among them: a real failure');
  t.notOk(onlyDuplicateKeys(bulk([])), 'no write errors: a real failure');
  t.notOk(onlyDuplicateKeys(Object.assign(bulk([DUPLICATE_KEY]), { writeConcernError: { code: 64 } })), 'a write concern error: not durable, retry');
  t.notOk(onlyDuplicateKeys(new Error('connection reset')), 'any other error: a real failure');
  t.notOk(onlyDuplicateKeys(undefined), 'nothing: a real failure');
});

t.test('tombstones: a TTL index on expiresAt; the upsert keeps the later expiry; the filter checks expiry and account', async (t) => {
  t.same(TOMBSTONE_INDEXES, [{ key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 }], 'removed by the server once expiresAt has passed');
  const expiresAt = new Date('2031-01-02T03:04:05.678Z');
  const o = (tombstoneUpsertOp({ accountId: 'acc_1', key: 'hmac-key', expiresAt }) as { updateOne: { filter: Doc; update: Doc; upsert?: boolean } }).updateOne;
  t.same(o.filter, { _id: 'hmac-key' }, 'by the key (the keyed hash covers the account)');
  t.equal(o.upsert, true, 'idempotent: an upsert');
  t.same(o.update, { $set: { accountId: 'acc_1' }, $max: { expiresAt } }, 'the later expiry wins ($max); no visitor id anywhere');
  const w = wire(o.update);
  t.ok(w.$max.expiresAt instanceof Date, 'expiresAt is a BSON date (the TTL index needs one)');
  t.throws(() => tombstoneUpsertOp({ accountId: 'a', key: 'k', expiresAt: new Date(NaN) }), 'an invalid date is refused');
  const sm = (tombstoneUpsertOp({ accountId: smuggle, key: smuggle, expiresAt }) as { updateOne: { filter: Doc; update: Doc } }).updateOne;
  t.equal(typeof sm.filter._id, 'string', 'an operator object as key becomes a string');
  t.equal(typeof sm.update.$set.accountId, 'string', 'and as account');

  const now = new Date('2030-06-01T00:00:00Z');
  const f = liveTombstonesFilter('acc_1', ['k1', smuggle], now) as Doc;
  t.same(f, { _id: { $in: ['k1', String(smuggle)] }, accountId: 'acc_1', expiresAt: { $gt: now } }, 'live = expiresAt after now, in this account');
  t.ok(wire(f).expiresAt.$gt instanceof Date, 'compared as a date');
});

t.test('activity scrub: the filter finds the person\'s entries; the updates pseudonymise and $unset, by _id', async (t) => {
  t.equal(activityScrubFilter('acc_1', { visitorIds: [], userKeys: [], userIds: [] }), undefined, 'nothing asked: no filter (never a scrub of everything)');
  const f = activityScrubFilter('acc_1', { visitorIds: ['v1'], userKeys: ['key-1'], userIds: ['u-1', smuggle] }) as Doc;
  t.same(f, {
    accountId: 'acc_1',
    $or: [{ visitorId: { $in: ['v1'] } }, { userKey: { $in: ['key-1'] } }, { userId: { $in: ['u-1', String(smuggle)] } }],
  }, 'scoped to the account; any of the three');
  t.same(ACTIVITY_INDEXES.find((i) => i.name === 'account_visitorId')?.key, { accountId: 1, visitorId: 1 }, 'an index serves the visitor id branch');

  const a = 'a'.repeat(24);
  const b = 'b'.repeat(24);
  const c = 'c'.repeat(24);
  const ops = activityScrubOps([{ _id: a, visitorId: 'v1' }, { _id: b, visitorId: 'v1' }, { _id: c }], (id) => `erased-${id}`) as Array<{ updateMany: { filter: Doc; update: Doc } }>;
  t.equal(ops.length, 2, 'one update per visitor id, one for entries without one');
  t.same(ops[0].updateMany, { filter: { _id: { $in: [a, b] } }, update: { $set: { visitorId: 'erased-v1' }, $unset: { userId: '', userKey: '' } } }, 'pseudonym set, user id and key unset');
  t.same(ops[1].updateMany, { filter: { _id: { $in: [c] } }, update: { $unset: { userId: '', userKey: '' } } }, 'no visitor id: only unset');
  t.same(activityScrubOps([], (id) => id), [], 'no entries: no updates');
});
