/**
 * The presence directory on a real nats-server: a tab that closed on relay A and reopened on relay B
 * is B's entry now, and A's late delete (its close handled after B's put) must not remove it.
 * Deletes are conditional on the revision the relay itself wrote.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { PRESENCE_BUCKET, presenceTabKey } from '../../../protocol/cluster.ts';
import { connectCluster, type ClusterConnection } from '../../../relay/cluster/connection.ts';
import { Presence } from '../../../relay/cluster/presence.ts';
import { createLogger } from '../../../relay/log.ts';
import { Metrics } from '../../../relay/metrics.ts';
import type { TabData } from '../../../relay/sessions/types.ts';
import { NatsServer, until } from '../../helpers/cluster.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];
const log = createLogger('silent');

function fakeTab(tabId: string): TabData {
  // Only what presence reads: the ids, the URL and the (absent) identity.
  return { account: { id: 'acc1' }, visitorId: 'v1', tabId, url: 'https://shop.example.com/', visitor: {}, closed: false } as unknown as TabData;
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

t.test('a late withdraw from the relay a tab left does not remove its entry on the relay it moved to', async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.stop());
  const secret = crypto.randomBytes(32);
  const a = await relayPresence(t, nats.url, 'A', secret);
  const b = await relayPresence(t, nats.url, 'B', secret);
  const reader = await connectCluster(nats.url, 'reader', log);
  t.teardown(() => reader.close());
  const kv = await reader.nc.jetstream().views.kv(PRESENCE_BUCKET);
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

  // A tab closed before its put was acknowledged: the delete waits for the put, so nothing is left behind.
  const quick = fakeTab('t2');
  const quickKey = presenceTabKey('acc1', 'v1', 't2');
  a.presence.announce(quick);
  a.presence.withdraw(quick);
  await until(async () => {
    const e = await kv.get(quickKey);
    return e !== null && e.operation !== 'PUT';
  }, 5000, 'the quick tab\'s delete');
  t.equal(await nodeOf(quickKey), null, 'a tab closed at once is not left listed');
});
