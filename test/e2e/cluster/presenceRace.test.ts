/**
 * The presence directory on a real nats-server: a tab that closed on relay A and reopened on relay B
 * is B's entry now, and A's late delete (its close handled after B's put) must not remove it.
 * Deletes are conditional on the revision the relay itself wrote. And a connect storm's writes: queued,
 * sent together once per turn, never more than MAX_WRITES_IN_FLIGHT unanswered, in order.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { PRESENCE_BUCKET, presenceTabKey } from '../../../protocol/cluster.ts';
import { connectCluster, type ClusterConnection } from '../../../relay/cluster/connection.ts';
import { MAX_WRITES_IN_FLIGHT, Presence } from '../../../relay/cluster/presence.ts';
import { createLogger } from '../../../relay/log.ts';
import { Metrics } from '../../../relay/metrics.ts';
import type { TabData } from '../../../relay/sessions/types.ts';
import { NatsServer, until } from '../../helpers/cluster.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];
const log = createLogger('silent');

function fakeTab(tabId: string, visitorId = 'v1'): TabData {
  // Only what presence reads: the ids, the URL and the (absent) identity.
  return { account: { id: 'acc1' }, visitorId, tabId, url: 'https://shop.example.com/', visitor: {}, closed: false } as unknown as TabData;
}

async function relayPresence(t: Test, url: string, node: string, secret: Buffer) {
  const conn: ClusterConnection = await connectCluster(url, node, log);
  const held = new Set<string>();
  const metrics = new Metrics();
  const presence = new Presence(conn, node, secret, () => [], (_a, _v, tab) => held.has(tab), { nodeDead() {}, tabSeen() {} }, metrics, log);
  await presence.start(10_000);
  t.teardown(async () => {
    await presence.stop();
    await conn.close();
  });
  return { presence, held, metrics };
}

/** Its own nats-server, relays A and B, and a reader's view of the bucket. */
async function twoRelays(t: Test) {
  const nats = await NatsServer.start();
  t.teardown(() => nats.stop());
  const secret = crypto.randomBytes(32);
  const a = await relayPresence(t, nats.url, 'A', secret);
  const b = await relayPresence(t, nats.url, 'B', secret);
  const reader = await connectCluster(nats.url, 'reader', log);
  t.teardown(() => reader.close());
  const kv = await reader.nc.jetstream().views.kv(PRESENCE_BUCKET);
  return { a, b, kv };
}

t.test('a late withdraw from the relay a tab left does not remove its entry on the relay it moved to', async (t) => {
  const { a, b, kv } = await twoRelays(t);
  const nodeOf = async (key: string) => {
    const e = await kv.get(key);
    return e && e.operation === 'PUT' ? (e.json() as { node: string }).node : null;
  };

  const tab = fakeTab('t1');
  const key = presenceTabKey('acc1', 'v1', 't1');
  a.held.add('t1');
  a.presence.announce(tab);
  await until(async () => (await nodeOf(key)) === 'A', 5000, 'A\'s entry');
  t.pass('the tab is listed on A');

  // The visitor's socket moved: B has the tab and wrote the key; A handles the old close only now.
  a.held.delete('t1');
  b.held.add('t1');
  b.presence.announce(tab);
  await until(async () => (await nodeOf(key)) === 'B', 5000, 'B\'s entry');
  a.presence.withdraw(tab);
  await until(() => a.metrics.counters.cluster_presence_withdraw_superseded_total === 1 || undefined, 5000, 'A\'s withdraw to be refused');
  t.equal(await nodeOf(key), 'B', 'the entry is still B\'s after A\'s late withdraw');

  // B's own withdraw does remove it.
  b.held.delete('t1');
  b.presence.withdraw(tab);
  await until(async () => (await nodeOf(key)) === null, 5000, 'the entry to go');
  t.pass('the relay that holds the entry removes it');
  t.equal(b.metrics.counters.cluster_presence_withdraw_superseded_total, 0, 'and that delete was not refused');

  // A put and the withdraw after it in one turn, the put sent (the tab still held when the writes
  // start): the delete waits for the put's revision, so nothing is left behind. Read at the call
  // instead, the revision would be the older one, the delete refused and the tab left listed.
  const quick = fakeTab('t2');
  const quickKey = presenceTabKey('acc1', 'v1', 't2');
  a.held.add('t2');
  a.presence.announce(quick);
  await until(async () => (await nodeOf(quickKey)) === 'A', 5000, 'the quick tab\'s first put');
  a.presence.announce(quick);
  a.presence.withdraw(quick);
  await until(async () => {
    const e = await kv.get(quickKey);
    return e !== null && e.operation !== 'PUT';
  }, 5000, 'the quick tab\'s delete');
  t.equal(await nodeOf(quickKey), null, 'a tab put and withdrawn in one turn is not left listed');
  t.equal(a.metrics.counters.cluster_presence_withdraw_superseded_total, 1, 'its delete was not refused (the 1 is the late withdraw above)');

  // Closed before its queued put started (as the router does it: no longer held): nothing is written.
  const gone = fakeTab('t3');
  const goneKey = presenceTabKey('acc1', 'v1', 't3');
  a.held.add('t3');
  a.presence.announce(gone);
  a.held.delete('t3');
  a.presence.withdraw(gone);
  await until(() => (a.metrics.gauges.cluster_presence_writes_queued === 0 && a.metrics.gauges.cluster_presence_writes_in_flight === 0) || undefined, 5000, 'A\'s writes to settle');
  t.equal(await kv.get(goneKey), null, 'a tab closed while its put was queued never reaches the bucket');
});

t.test('a tab that moves to another relay while its first relay\'s writes are backed up stays listed on the new one', async (t) => {
  const { a, b, kv } = await twoRelays(t);
  // A backlog on A: more puts than may be unanswered at once.
  for (let i = 0; i < 3 * MAX_WRITES_IN_FLIGHT; i++) {
    a.held.add(`b${i}`);
    a.presence.announce(fakeTab(`b${i}`, `vb${i}`));
  }
  // T opens on A and closes there at once (its put still queued behind the backlog); the visitor
  // reconnects on B, whose put lands first.
  const moving = fakeTab('moving', 'vm');
  const key = presenceTabKey('acc1', 'vm', 'moving');
  a.held.add('moving');
  a.presence.announce(moving);
  a.held.delete('moving');
  a.presence.withdraw(moving);
  b.held.add('moving');
  b.presence.announce(moving);
  await until(() => (a.metrics.gauges.cluster_presence_writes_queued === 0 && a.metrics.gauges.cluster_presence_writes_in_flight === 0) || undefined, 30_000, 'A\'s backlog to drain');
  await until(() => (b.metrics.gauges.cluster_presence_writes_queued === 0 && b.metrics.gauges.cluster_presence_writes_in_flight === 0) || undefined, 5000, 'B\'s put');
  const e = await kv.get(key);
  t.equal(e?.operation, 'PUT', 'the tab is listed');
  t.equal(e && e.operation === 'PUT' ? (e.json() as { node: string }).node : null, 'B', 'on B, where it is now (A\'s late put and delete did not take it over)');
});

t.test('a storm of tab writes: queued and sent together, at most MAX_WRITES_IN_FLIGHT unanswered, in order, and the heartbeat never waits', async (t) => {
  const { a, b, kv } = await twoRelays(t);
  await until(() => b.presence.liveNodes().includes('A') || undefined, 5000, 'B to hear A');
  const N = 5000;
  const tabs = Array.from({ length: N }, (_, i) => fakeTab(`s${i}`, `v${i % 1000}`));
  for (const tab of tabs) {
    a.held.add(tab.tabId);
    a.presence.announce(tab);
  }
  t.equal(a.metrics.gauges.cluster_presence_writes_queued, N, 'nothing is sent from the callers\' turn: every put is queued');
  t.equal(a.metrics.gauges.cluster_presence_writes_in_flight, 0);
  // B must keep hearing A while A's backlog drains (the heartbeat is not queued behind it).
  let aLooksDead = false;
  const watch = setInterval(() => {
    if (!b.presence.liveNodes().includes('A')) aLooksDead = true;
  }, 50);
  t.teardown(() => clearInterval(watch));
  await until(() => b.metrics.gauges.cluster_presence_tabs === N || undefined, 30_000, `B's replica to list all ${N} tabs`);
  t.pass(`B lists all ${N} tabs`);
  t.ok(a.presence.peakInFlight <= MAX_WRITES_IN_FLIGHT, `at most ${MAX_WRITES_IN_FLIGHT} writes unanswered (peak ${a.presence.peakInFlight})`);
  t.ok(a.presence.peakInFlight > 100, `and many at once, not one by one (peak ${a.presence.peakInFlight})`);
  t.equal(a.metrics.counters.cluster_presence_write_failures_total, 0, 'no write failed');
  t.same(b.presence.tabsOf('acc1', 'v7').map((x) => x.tabId).sort(), ['s1007', 's2007', 's3007', 's4007', 's7'], 'a visitor\'s tabs, all of them');

  // A put, its delete and a put again, all in one turn: they run in that order, so the tab ends listed.
  const again = tabs[0];
  a.presence.withdraw(again);
  a.presence.announce(again);
  for (const tab of tabs.slice(1)) {
    a.held.delete(tab.tabId);
    a.presence.withdraw(tab);
  }
  await until(() => b.metrics.gauges.cluster_presence_tabs === 1 || undefined, 30_000, 'B\'s replica to drop all but one');
  t.same(b.presence.tabsOf('acc1', 'v0').map((x) => x.tabId), ['s0'], 'the tab withdrawn and announced again in one turn is listed');
  const keys: string[] = [];
  for await (const k of await kv.keys('tab.>')) keys.push(k);
  t.same(keys, [presenceTabKey('acc1', 'v0', 's0')], 'and the bucket holds only that tab\'s key');
  t.notOk(aLooksDead, 'B never saw A as dead while A\'s writes were queued');
  t.ok(a.presence.peakInFlight <= MAX_WRITES_IN_FLIGHT, `still at most ${MAX_WRITES_IN_FLIGHT} unanswered (peak ${a.presence.peakInFlight})`);
});
