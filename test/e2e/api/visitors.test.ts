/** REST API for visitor metadata, deletion and the activity log, on a real relay and SQLite file. */
import fs from 'node:fs';
import t from 'tap';
import { connectAgent, connectVisitor, refused, sleep, type TestSocket } from '../../helpers/clients.ts';
import { filesUnder, OTHER_ORIGIN, startTestRelay, type TestRelay } from '../../helpers/relay.ts';

async function api(r: TestRelay, method: string, path: string, auth?: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${r.port}${path}`, {
    method,
    headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function visitor(r: TestRelay, key: string, identify?: object, url = 'https://shop.example.com/') {
  const v = await connectVisitor(r.port, key, key === r.other.publicKey ? { origin: OTHER_ORIGIN } : {});
  if (identify) v.sock.send({ t: 'identify', ...identify });
  v.sock.send({ t: 'page', url, title: 'Shop' });
  return v;
}

/** Flushes the write-behind (rather than waiting for its tick) until this visitor is stored. */
async function stored(r: TestRelay, accountId: string, visitorId: string) {
  for (let i = 0; i < 100; i++) {
    await r.relay.ctx.metadata.writer.flush();
    const v = await r.relay.ctx.store.getVisitor(accountId, visitorId);
    if (v && v.lastUrl) return v;
    await sleep(50);
  }
  throw new Error(`visitor ${visitorId} never stored`);
}

t.test('search, read, and the account boundary', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const jane = await visitor(r, r.acme.publicKey, { userId: 'u-jane', name: 'Jane Roe', email: 'Jane@Example.com' }, 'https://shop.example.com/cart');
  const anon = await visitor(r, r.acme.publicKey, undefined, 'https://shop.example.com/help');
  const foreign = await visitor(r, r.other.publicKey, { userId: 'u-jane' });
  await stored(r, r.acme.accountId, jane.welcome.visitorId);
  await stored(r, r.acme.accountId, anon.welcome.visitorId);

  t.equal((await api(r, 'GET', '/api/v1/visitors')).status, 401, 'no credentials: 401');
  t.equal((await api(r, 'GET', '/api/v1/visitors', 'sk_acc_nope.' + 'x'.repeat(32))).status, 401, 'wrong secret: 401');
  const bad = await api(r, 'GET', '/api/v1/visitors?limit=0', r.acme.secretKey);
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'bad_request');

  const byUser = await api(r, 'GET', '/api/v1/visitors?userId=u-jane', r.acme.secretKey);
  t.equal(byUser.status, 200);
  t.same(byUser.body.items.map((v: any) => v.visitorId), [jane.welcome.visitorId], 'only this account\'s visitor with that user id');
  const rec = byUser.body.items[0];
  t.same(Object.keys(rec).sort(), ['email', 'firstSeen', 'ip', 'lastSeen', 'lastUrl', 'name', 'online', 'userId', 'visitorId'], 'exactly the fields we keep');
  t.equal(rec.ip, '127.0.0.1');
  t.equal(rec.online, true);
  t.equal(rec.lastUrl, 'https://shop.example.com/cart');
  t.same((await api(r, 'GET', '/api/v1/visitors?email=jane@example.com', r.acme.secretKey)).body.items.length, 1, 'email is case-insensitive');
  t.same((await api(r, 'GET', '/api/v1/visitors?q=help', r.acme.secretKey)).body.items.map((v: any) => v.visitorId), [anon.welcome.visitorId], 'free text finds the URL');
  const page1 = await api(r, 'GET', '/api/v1/visitors?limit=1', r.acme.secretKey);
  t.equal(page1.body.items.length, 1);
  t.ok(page1.body.nextCursor, 'paginated');
  const page2 = await api(r, 'GET', `/api/v1/visitors?limit=1&cursor=${page1.body.nextCursor}`, r.acme.secretKey);
  t.not(page2.body.items[0].visitorId, page1.body.items[0].visitorId, 'the next page moves on');

  // Agents may search their own account, without IPs.
  const agentToken = r.token(r.acme, 'alice');
  const asAgent = await api(r, 'GET', '/api/v1/visitors?userId=u-jane', agentToken);
  t.equal(asAgent.status, 200);
  t.notOk('ip' in asAgent.body.items[0], 'agents do not see IP addresses');
  t.equal((await api(r, 'DELETE', `/api/v1/visitors/${jane.welcome.visitorId}`, agentToken)).status, 401, 'agents cannot delete');

  // Lookup code: the visitor asks, the agent finds it by the code.
  anon.sock.send({ t: 'code-request' });
  const code = (await anon.sock.next('code')).code;
  t.match(code, /^\d{6}$/);
  // No wait for the write-behind tick: the code was queued before the relay answered, and a REST
  // read writes what is queued first (metadata/service.ts).
  const byCode = await api(r, 'GET', `/api/v1/visitors?code=${code}`, agentToken);
  t.same(byCode.body.items.map((v: any) => v.visitorId), [anon.welcome.visitorId], 'found by lookup code');
  // Typed as the visitor sees it ("477 005"), or with a dash: the same visitor.
  for (const shown of [`${code.slice(0, 3)} ${code.slice(3)}`, `${code.slice(0, 3)}-${code.slice(3)}`, ` ${code} `]) {
    const res = await api(r, 'GET', `/api/v1/visitors?code=${encodeURIComponent(shown)}`, agentToken);
    t.same(res.body.items?.map((v: any) => v.visitorId), [anon.welcome.visitorId], `found by the code typed as ${JSON.stringify(shown)}`);
  }
  const badCode = await api(r, 'GET', `/api/v1/visitors?code=${encodeURIComponent('12 34')}`, agentToken);
  t.equal(badCode.status, 400, 'not 6 digits once separators are dropped: 400');
  t.equal(badCode.body.error.code, 'bad_request');

  // The other account's visitor: 404 everywhere, exactly like a visitor that does not exist.
  for (const [m, p] of [['GET', `/api/v1/visitors/${foreign.welcome.visitorId}`], ['DELETE', `/api/v1/visitors/${foreign.welcome.visitorId}`], ['GET', '/api/v1/visitors/doesnotexist'], ['DELETE', '/api/v1/visitors/doesnotexist']]) {
    const res = await api(r, m, p, r.acme.secretKey);
    t.equal(res.status, 404, `${m} ${p.slice(0, 30)}…: 404`);
    t.equal(res.body.error.code, 'not_found');
  }
  const bulk = await api(r, 'POST', '/api/v1/visitors/delete', r.acme.secretKey, { visitorIds: [foreign.welcome.visitorId] });
  t.same(bulk.body, { deleted: 0, activityScrubbed: 0 }, 'bulk delete cannot reach another account (nor its activity log)');
  t.ok(await r.relay.ctx.store.getVisitor(r.other.accountId, foreign.welcome.visitorId), 'the other account\'s visitor is untouched');
  t.equal(foreign.sock.closeInfo, undefined, 'and still connected');
});

t.test('deleting a live visitor: sessions end, nothing remains, nothing is recreated', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const canary = 'CANARY-FRAME-7f3a9';
  const v = await visitor(r, r.open.publicKey, { userId: 'john@example.com', email: 'john@example.com' });
  const a = await connectAgent(r.port, r.token(r.open, 'alice'));
  a.send({ t: 'join', visitorId: v.welcome.visitorId });
  await a.next('joined');
  v.sock.sendFrame(Buffer.concat([Buffer.from([1]), Buffer.from(`<p>${canary}</p>`)]));
  await a.until(() => a.frames.length === 1, 5000, 'frame');
  await stored(r, r.open.accountId, v.welcome.visitorId);

  const res = await api(r, 'DELETE', `/api/v1/visitors/${v.welcome.visitorId}`, r.open.secretKey);
  t.same(res, { status: 200, body: { deleted: 1, activityScrubbed: 0 } }, 'one record; no log entry named him yet (consent is off: no request logged)');
  const ended = (await r.relay.ctx.store.listActivity(r.open.accountId, { type: 'session_ended', limit: 5 })).items;
  t.same(ended.map((e) => [e.visitorId, e.userId]), [[r.relay.ctx.metadata.pseudonymOf(r.open.accountId, v.welcome.visitorId), undefined]],
    'the session ended by the deletion is logged under a pseudonym, without his user id');
  t.same(await v.sock.closed, { code: 4004, reason: 'visitor_deleted' }, 'the visitor socket is closed with 4004');
  await a.next('ended');
  t.equal(await r.relay.ctx.store.getVisitor(r.open.accountId, v.welcome.visitorId), null, 'gone from the store');
  t.equal(r.relay.ctx.router.visitors.size, 0, 'gone from the relay\'s memory');
  t.notOk(r.relay.ctx.metadata.writer.hasPending(r.open.accountId, v.welcome.visitorId), 'no pending write for it');
  const again = await api(r, 'DELETE', `/api/v1/visitors/${v.welcome.visitorId}`, r.open.secretKey);
  t.equal(again.status, 404, 'deleting again: nothing there');
  const reconnect = await refused(connectVisitor(r.port, r.open.publicKey, { query: { vid: v.welcome.visitorId, vt: v.welcome.visitorToken } }));
  t.equal(reconnect.status, 401, 'the deleted visitor id cannot come back');
  r.relay.ctx.metadata.touch({ accountId: r.open.accountId, visitorId: v.welcome.visitorId, lastUrl: 'https://late/' });
  await r.relay.ctx.metadata.writer.flush(Date.now(), true);
  t.equal(await r.relay.ctx.store.getVisitor(r.open.accountId, v.welcome.visitorId), null, 'a late heartbeat does not recreate it');

  const log = await api(r, 'GET', '/api/v1/activity', r.open.secretKey);
  t.equal(log.status, 200);
  const types = log.body.items.map((e: any) => e.type);
  t.ok(types.includes('data_deleted'), 'the deletion is in the activity log');
  t.ok(log.body.items.every((e: any) => e.userId === undefined || e.userId === 'j***@example.com'), 'user ids that look like emails are masked');
  await r.relay.ctx.metadata.writer.flush(Date.now(), true);
  for (const f of filesUnder(r.dataDir)) {
    const bytes = fs.readFileSync(f);
    t.notOk(bytes.includes(canary), `no page content in ${f.slice(r.dataDir.length)}`);
    t.notOk(bytes.includes('john@example.com'), `no trace of the deleted email in ${f.slice(r.dataDir.length)}`);
  }
});

t.test('bulk delete counts, allOffline, validation, activity purge, forget()', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const socks: TestSocket[] = [];
  const ids: string[] = [];
  for (const ident of [{ userId: 'a' }, { userId: 'a' }, { email: 'b@example.com' }, {}, {}]) {
    const v = await visitor(r, r.acme.publicKey, ident);
    socks.push(v.sock);
    ids.push(v.welcome.visitorId);
  }
  for (const id of ids) await stored(r, r.acme.accountId, id);
  for (const s of socks.slice(0, 4)) s.close(); // the fifth stays online
  await Promise.all(socks.slice(0, 4).map((s) => s.closed));

  t.equal((await api(r, 'POST', '/api/v1/visitors/delete', r.acme.secretKey, {})).status, 400, 'an empty filter deletes nothing: 400');
  t.equal((await api(r, 'POST', '/api/v1/visitors/delete', r.acme.secretKey, { visitorIds: 'x' })).status, 400);
  t.equal((await api(r, 'POST', '/api/v1/visitors/delete', r.acme.secretKey, { visitorIds: Array(1001).fill('x') })).status, 400, 'bounded');
  t.same((await api(r, 'POST', '/api/v1/visitors/delete', r.acme.secretKey, { userIds: ['a'] })).body, { deleted: 2, activityScrubbed: 0 }, 'two visitors with user id a');
  t.same((await api(r, 'POST', '/api/v1/visitors/delete', r.acme.secretKey, { userIds: ['a'] })).body, { deleted: 0, activityScrubbed: 0 }, 'idempotent');
  t.same((await api(r, 'POST', '/api/v1/visitors/delete', r.acme.secretKey, { emails: ['B@example.com'] })).body, { deleted: 1, activityScrubbed: 0 });
  t.same((await api(r, 'POST', '/api/v1/visitors/delete', r.acme.secretKey, { allOffline: true })).body, { deleted: 1, activityScrubbed: 0 }, 'all offline: the one left offline');
  t.ok(await r.relay.ctx.store.getVisitor(r.acme.accountId, ids[4]), 'the online visitor stays');

  // Activity for an identified visitor, then its erasure.
  const v = await visitor(r, r.acme.publicKey, { userId: 'mary@example.com' });
  const a = await connectAgent(r.port, r.token(r.acme, 'alice'));
  a.send({ t: 'join', visitorId: v.welcome.visitorId });
  await v.sock.next('consent-request');
  v.sock.send({ t: 'consent', agentId: 'alice', allow: true });
  await a.next('joined');
  const log = await api(r, 'GET', `/api/v1/activity?visitorId=${v.welcome.visitorId}`, r.acme.secretKey);
  t.same(log.body.items.map((e: any) => e.type).sort(), ['consent_given', 'session_requested']);
  t.ok(log.body.items.every((e: any) => e.userId === 'm***@example.com' && e.agentId === 'alice'), 'agent id and masked user id recorded');
  t.notOk(JSON.stringify(log.body).includes('userKey'), 'the user key stays internal');
  t.same((await api(r, 'POST', '/api/v1/activity/purge', r.acme.secretKey, { userId: 'mary@example.com' })).body, { purged: 2 });
  t.same((await api(r, 'GET', `/api/v1/activity?visitorId=${v.welcome.visitorId}`, r.acme.secretKey)).body.items, []);
  t.equal((await api(r, 'GET', '/api/v1/activity?type=nope', r.acme.secretKey)).status, 400);

  // The visitor's own erasure, over its authenticated socket.
  await stored(r, r.acme.accountId, v.welcome.visitorId);
  v.sock.send({ t: 'forget' });
  t.same(await v.sock.closed, { code: 4004, reason: 'visitor_deleted' });
  await a.next('ended');
  await sleep(50);
  t.equal(await r.relay.ctx.store.getVisitor(r.acme.accountId, v.welcome.visitorId), null, 'forget() erased the record');
});

t.test('online=true finds every online visitor, however many newer offline rows there are', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const live = await visitor(r, r.acme.publicKey, { userId: 'u-live' });
  t.teardown(() => live.sock.close());
  await stored(r, r.acme.accountId, live.welcome.visitorId);
  // 150 offline visitors seen after the live one: more than a page of 100 ahead of it.
  const later = Date.now() + 60_000;
  await r.relay.ctx.store.upsertVisitors(Array.from({ length: 150 }, (_, i) => ({
    accountId: r.acme.accountId, visitorId: `v-old-${i}`, lastSeen: new Date(later + i), lastUrl: 'https://shop.example.com/',
  })));
  const onlineOnly = await api(r, 'GET', '/api/v1/visitors?online=true&limit=100', r.acme.secretKey);
  t.equal(onlineOnly.status, 200);
  t.same(onlineOnly.body.items.map((v: any) => v.visitorId), [live.welcome.visitorId], 'the live visitor, on the first page');
  t.equal(onlineOnly.body.items[0].online, true);
  const offline = await api(r, 'GET', '/api/v1/visitors?online=false&limit=100', r.acme.secretKey);
  t.equal(offline.body.items.length, 100, 'a full page of offline visitors');
  t.notOk(offline.body.items.some((v: any) => v.visitorId === live.welcome.visitorId), 'without the live one');
  t.ok(offline.body.nextCursor, 'and more to page through');
});
