/**
 * Cluster consent revocation against a real nats-server and two relay processes: the visitor has a
 * tab on A and one on B, the agent was consented on A and watches both tabs (one socket per relay).
 * The visitor ends sharing on B: the agent is ended on both relays, the shared consent key is gone and
 * stays gone after both relays' consent refreshes ran (CLUSTER_CONSENT_REFRESH_MS, waited on through
 * the refresh counter, not slept for), and a new join on either relay needs a new prompt.
 */
import t from 'tap';
import { connect } from 'nats';
import { connectAgent, connectVisitor, type TestSocket } from '../../helpers/clients.ts';
import { startCluster, until, type TestCluster } from '../../helpers/cluster.ts';

t.setTimeout(240_000);
let c: TestCluster;
t.before(async () => {
  c = await startCluster(['A', 'B'], { CLUSTER_CONSENT_REFRESH_MS: '200' });
});
t.teardown(() => c?.stop());
const relay = (n: string) => c.relays.find((r) => r.name === n)!;
const api = (base: string, key: string, p: string) => fetch(`${base}${p}`, { headers: { authorization: `Bearer ${key}` } });
const refreshes = async (n: string) => (await relay(n).metrics()).cluster_consent_refreshes_total ?? 0;
const count = (s: TestSocket, type: string) => s.texts.filter((m) => m.t === type).length;

for (const [how, end] of [
  ['End session (every agent)', {}],
  ['Stop sharing with this agent', { agentId: true }],
] as const) {
  t.test(`${how} on B ends the agent on A and B; a new join is prompted again on both, also after the refresh`, async (t) => {
    const A = relay('A'), B = relay('B');
    const agentId = `agent-rev-${'agentId' in end ? 'one' : 'all'}`;
    const { sock: tabA, welcome } = await connectVisitor(A.port, c.acme.publicKey);
    const vid = welcome.visitorId as string;
    const key = `${c.acme.accountId}.${vid}.${agentId}`;
    const gA = await connectAgent(A.port, await c.token(c.acme, agentId));
    gA.send({ t: 'join', visitorId: vid });
    await tabA.next('consent-request');
    tabA.send({ t: 'consent', agentId, allow: true });
    await gA.next('joined');

    const nc = await connect({ servers: c.nats.url });
    t.teardown(() => nc.close());
    const kv = await nc.jetstream().views.kv('cobrowse-consent');
    await until(async () => (await kv.get(key))?.operation === 'PUT', 5000, 'the consent in the shared bucket');

    // A second tab of the visitor on B; the agent's socket on B joins it without a prompt (consent from A).
    const { sock: tabB } = await connectVisitor(B.port, c.acme.publicKey, { query: { vid, vt: welcome.visitorToken } });
    await until(async () => (await (await api(B.base, c.acme.secretKey, `/api/v1/visitors/${vid}`)).json() as any).visitor?.online, 5000, 'online on B');
    const gB = await connectAgent(B.port, await c.token(c.acme, agentId));
    gB.send({ t: 'join', visitorId: vid, tabId: undefined });
    await gB.next('joined');
    t.notOk(tabB.has('consent-request'), 'B admits the agent with the consent given on A');

    // The visitor ends sharing on B.
    tabB.send({ t: 'end', ...('agentId' in end ? { agentId } : {}) });
    const endedB = await gB.next('ended');
    const endedA = await gA.next('ended');
    t.equal(endedB.visitorId, vid, 'the agent socket on B is ended');
    t.equal(endedA.visitorId, vid, 'the agent socket on A (watching the tab on A) is ended too');
    await until(async () => (await kv.get(key))?.operation !== 'PUT', 5000, 'the consent deleted from the shared bucket');

    // Both relays' refresh runs at least twice after the revocation: neither re-puts the consent.
    // Each relay's refresh timer starts once its bucket is open, which can come late on a loaded machine.
    await until(async () => (await refreshes('A')) > 0 && (await refreshes('B')) > 0, 10_000, 'the refresh counters exported on A and B');
    const [ra, rb] = [await refreshes('A'), await refreshes('B')];
    t.ok(ra > 0 && rb > 0, `the refresh counters are exported (A ${ra}, B ${rb})`);
    await until(async () => (await refreshes('A')) >= ra + 2 && (await refreshes('B')) >= rb + 2, 10_000, 'two refreshes on A and B');
    const after = await kv.get(key);
    t.not(after?.operation, 'PUT', 'the revoked consent was not re-put by a refresh');

    // A new join is prompted again, on each relay.
    for (const [name, g, tab] of [['A', gA, tabA], ['B', gB, tabB]] as const) {
      const prompts = count(tabA, 'consent-request') + count(tabB, 'consent-request');
      const joined = count(g, 'joined');
      g.send({ t: 'join', visitorId: vid });
      await g.next('consent-pending');
      await until(() => count(tabA, 'consent-request') + count(tabB, 'consent-request') > prompts, 5000, `a new prompt for the join on ${name}`);
      t.pass(`a new join on ${name} brings a new consent prompt`);
      t.equal(count(g, 'joined'), joined, `the agent on ${name} is not joined without the new consent`);
      g.send({ t: 'leave' });
      void tab;
    }
    gA.close();
    gB.close();
    tabA.close();
    tabB.close();
  });
}
