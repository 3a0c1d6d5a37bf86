/**
 * Tombstones outlive the relay process and reach every relay on the same store: real relays on a
 * real SQLite DATA_DIR, real visitor sockets, deletion over the REST API.
 */
import t from 'tap';
import { connectAgent, connectVisitor, refused, sleep, visitorBarrier } from '../../helpers/clients.ts';
import { startTestRelay, type TestRelay } from '../../helpers/relay.ts';

async function api(r: TestRelay, method: string, path: string, auth: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${r.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** A visitor that identifies and reports a page, then leaves once the relay has stored it. */
async function storedVisitor(r: TestRelay): Promise<{ visitorId: string; visitorToken: string }> {
  const { sock, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  sock.send({ t: 'identify', userId: 'u-gone', email: 'gone@example.com' });
  sock.send({ t: 'page', url: 'https://shop.example.com/cart', title: 'Cart' });
  await visitorBarrier(sock); // both messages handled: the update is queued
  // Written now, not at the next one-second tick. A flush the tick already started may not hold
  // this update, hence the loop (it ends at the second flush at the latest).
  for (let i = 0; !(await r.relay.ctx.store.getVisitor(r.acme.accountId, welcome.visitorId))?.email; i++) {
    if (i === 5) throw new Error('the visitor was not stored');
    await r.relay.ctx.metadata.writer.flush();
  }
  sock.close();
  await sock.closed;
  return { visitorId: welcome.visitorId, visitorToken: welcome.visitorToken };
}

/** The admission answer over HTTP (what the embed asks when an upgrade fails). */
async function check(r: TestRelay, v: { visitorId: string; visitorToken: string }) {
  const q = new URLSearchParams({ key: r.acme.publicKey, vid: v.visitorId, vt: v.visitorToken });
  const res = await fetch(`http://127.0.0.1:${r.port}/v1/visitor/check?${q}`, { headers: { origin: 'https://shop.example.com' } });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

t.test('a deleted visitor stays deleted after a restart: its old id and token are refused, no record comes back', async (t) => {
  const r1 = await startTestRelay();
  const v = await storedVisitor(r1);
  t.ok(await r1.relay.ctx.store.getVisitor(r1.acme.accountId, v.visitorId), 'stored');
  const del = await api(r1, 'DELETE', `/api/v1/visitors/${v.visitorId}`, r1.acme.secretKey);
  t.same(del, { status: 200, body: { deleted: 1, activityScrubbed: 0 } });
  await r1.stop();

  const r2 = await startTestRelay({}, { restartOf: r1 });
  t.teardown(r2.stop);
  t.equal(r2.relay.ctx.metadata.isDeleted(r2.acme.accountId, v.visitorId), false, 'the new process has no memory of the deletion');
  const again = await refused(connectVisitor(r2.port, r2.acme.publicKey, { query: { vid: v.visitorId, vt: v.visitorToken } }));
  t.equal(again.status, 401, 'the old id and token are refused at the upgrade');
  t.equal(again.body?.error?.code, 'visitor_token_invalid', 'with the error that tells the embed to start over');
  t.same(await check(r2, v), { status: 401, body: again.body }, '/v1/visitor/check says the same');
  await r2.relay.ctx.metadata.writer.flush(Date.now(), true);
  t.equal(await r2.relay.ctx.store.getVisitor(r2.acme.accountId, v.visitorId), null, 'no record was re-created');
  const fresh = await connectVisitor(r2.port, r2.acme.publicKey);
  t.not(fresh.welcome.visitorId, v.visitorId, 'starting over without the old id works, with a new id');
  fresh.sock.close();
  await fresh.sock.closed;
});

t.test('two relays on one DATA_DIR: a deletion on one is refused on admission by the other, and its writes do not re-create the row', async (t) => {
  const a = await startTestRelay();
  t.teardown(a.stop);
  const b = await startTestRelay({}, { restartOf: a }); // a second relay process sharing the SQLite file
  t.teardown(b.stop);
  const v = await storedVisitor(b);
  const other = await storedVisitor(b);
  // The visitor comes back to relay b (allowed), then is deleted through relay a.
  const live = await connectVisitor(b.port, b.acme.publicKey, { query: { vid: v.visitorId, vt: v.visitorToken } });
  t.equal(live.welcome.visitorId, v.visitorId, 'admitted on b before the deletion');
  const del = await api(a, 'POST', '/api/v1/visitors/delete', a.acme.secretKey, { visitorIds: [v.visitorId] });
  t.same(del.body, { deleted: 1, activityScrubbed: 0 }, 'deleted through a');

  const refusedOnB = await refused(connectVisitor(b.port, b.acme.publicKey, { query: { vid: v.visitorId, vt: v.visitorToken } }));
  t.equal(refusedOnB.status, 401, 'b refuses the id on admission, though it never saw the deletion');
  // The tab still open on b keeps sending: its updates are refused by the store inside the write.
  live.sock.send({ t: 'page', url: 'https://shop.example.com/after', title: 'After' });
  live.sock.send({ t: 'identify', email: 'back@example.com' });
  live.sock.send({ t: 'code-request' });
  await live.sock.next('code'); // b answers in order: both messages above have been handled
  await b.relay.ctx.metadata.writer.flush(Date.now(), true);
  t.equal(b.relay.ctx.metadata.writer.pendingVisitors, 0, 'b wrote (or had refused) everything it held');
  t.equal(await b.relay.ctx.store.getVisitor(b.acme.accountId, v.visitorId), null, 'the row is not re-created by b');
  t.ok(await b.relay.ctx.store.getVisitor(b.acme.accountId, other.visitorId), 'another visitor on b is untouched');
  const stillOk = await connectVisitor(b.port, b.acme.publicKey, { query: { vid: other.visitorId, vt: other.visitorToken } });
  t.equal(stillOk.welcome.visitorId, other.visitorId, 'and is still admitted');
  stillOk.sock.close();
  live.sock.close();
  await Promise.all([stillOk.sock.closed, live.sock.closed]);
});

t.test("forget(): the visitor's own erasure also anonymises its activity log entries", async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  visitor.send({ t: 'identify', userId: 'forget-me@example.com', email: 'forget-me@example.com' });
  const agent = await connectAgent(r.port, r.token(r.acme, 'alice'));
  agent.send({ t: 'join', visitorId: welcome.visitorId });
  await visitor.next('consent-request');
  visitor.send({ t: 'consent', agentId: 'alice', allow: true });
  await agent.next('joined');
  const metadata = r.relay.ctx.metadata;
  await metadata.writer.flush(Date.now(), true);
  const key = metadata.userKeyOf(r.acme.accountId, 'forget-me@example.com');
  const before = (await r.relay.ctx.store.listActivity(r.acme.accountId, { visitorId: welcome.visitorId, limit: 10 })).items;
  t.same(before.map((e) => [e.type, e.userKey]).sort(), [['consent_given', key], ['session_requested', key]], 'before: two entries name the visitor and the user');

  visitor.send({ t: 'forget' });
  t.same(await visitor.closed, { code: 4004, reason: 'visitor_deleted' }, 'closed with 4004');
  // The erasure runs on after the close: wait (bounded) for its log entry.
  let deleted = false;
  for (let i = 0; i < 100 && !deleted; i++) {
    await metadata.writer.flush(Date.now(), true);
    deleted = (await r.relay.ctx.store.listActivity(r.acme.accountId, { type: 'data_deleted', limit: 1 })).items.length === 1;
    if (!deleted) await sleep(50);
  }
  t.ok(deleted, 'the erasure finished');
  const log = JSON.stringify((await r.relay.ctx.store.listActivity(r.acme.accountId, { limit: 100 })).items);
  t.notOk(log.includes(welcome.visitorId), 'the visitor id is nowhere in the log');
  t.notOk(log.includes(key) || log.includes('f***@example.com'), 'nor the user key or the masked user id');
  const pseudo = metadata.pseudonymOf(r.acme.accountId, welcome.visitorId);
  t.ok((await r.relay.ctx.store.listActivity(r.acme.accountId, { visitorId: pseudo, limit: 10 })).items.length >= 2, 'the entries stay, under the pseudonym');
  agent.close();
  await agent.closed;
});
