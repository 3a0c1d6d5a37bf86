/**
 * While the store is down, the activity log holds everything and pushes back on the source:
 * past ACTIVITY_BACKLOG_LIMIT pending entries, client-caused actions are refused (4013 overloaded),
 * entries the relay records itself (a deletion) are still kept, and nothing is ever dropped.
 */
import t from 'tap';
import { connectAgent, connectVisitor } from '../../helpers/clients.ts';
import { faultyStore } from '../../helpers/faultyStore.ts';
import { startTestRelay } from '../../helpers/relay.ts';
import type { Store } from '../../../relay/store/types.ts';

const LIMIT = 10;

t.test('a store outage: client-caused activity refused past the backlog limit, relay-caused kept, nothing dropped', async (t) => {
  let store!: ReturnType<typeof faultyStore>;
  const r = await startTestRelay({ ACTIVITY_BACKLOG_LIMIT: String(LIMIT) }, { wrapStore: (s: Store) => (store = faultyStore(s)) });
  t.teardown(() => r.stop());
  const { counters } = r.relay.ctx.metrics;
  const writer = r.relay.ctx.metadata.writer;
  store.fault = 'fail';

  const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  const alice = await connectAgent(r.port, r.token(r.acme, 'alice'));
  // Each join asks again: one session_requested per join, held while the store is down.
  for (let i = 0; i < LIMIT; i++) {
    const before = visitor.texts.filter((m) => m.t === 'consent-request').length;
    alice.send({ t: 'join', visitorId: welcome.visitorId });
    await visitor.until(() => visitor.texts.filter((m) => m.t === 'consent-request').length > before, 5000, 'a consent request');
  }
  t.equal(writer.pendingActivity, LIMIT, 'the backlog holds every entry');
  alice.send({ t: 'join', visitorId: welcome.visitorId });
  const closed = await alice.until(() => alice.closeInfo, 5000, 'the refusal');
  t.same(closed, { code: 4013, reason: 'overloaded' }, 'the next session request is refused at the source');
  t.equal(alice.texts.find((m) => m.t === 'error')?.code, 'overloaded', 'with an error message first');
  t.equal(counters.activity_refused_total, 1, 'counted');

  // A deletion by the admin is recorded even over the limit: the relay saw it happen.
  const { sock: other, welcome: w2 } = await connectVisitor(r.port, r.acme.publicKey);
  const res = await fetch(`http://127.0.0.1:${r.port}/api/v1/visitors/${w2.visitorId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${r.acme.secretKey}` },
  });
  t.equal(res.status, 200, 'the deletion goes through');
  await other.closed;
  t.equal(writer.pendingActivity, LIMIT + 1, 'and its entry is held too');
  await writer.flush(Date.now(), true);
  t.ok(counters.metadata_write_failures_total > 0, 'a write was tried and failed');
  t.equal(writer.pendingActivity, LIMIT + 1, 'the failed batch is held again, whole');

  // Recovery: everything lands; new sessions are accepted again.
  store.fault = 'none';
  for (let i = 0; i < 20 && writer.pendingActivity > 0; i++) await writer.flush(Date.now(), true);
  const { items } = await r.relay.ctx.store.listActivity(r.acme.accountId, { limit: 100 });
  t.equal(items.filter((e) => e.type === 'session_requested').length, LIMIT, 'every held session request landed');
  t.equal(items.filter((e) => e.type === 'data_deleted').length, 1, 'the deletion landed');
  t.equal(counters.metadata_dropped_total, 0, 'nothing was dropped');
  const bob = await connectAgent(r.port, r.token(r.acme, 'bob'));
  bob.send({ t: 'join', visitorId: welcome.visitorId });
  await visitor.next('consent-request', 5000, (m) => m.agent.id === 'bob');
  t.pass('after recovery a session request is accepted');
});
