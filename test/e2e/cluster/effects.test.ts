/**
 * Cluster-wide effects against a real nats-server and three relay processes: an erasure on C closes
 * the visitor's tab on A within 1 s; a key rotation on B is refused on A within 1 s (and A's agent
 * sockets minted under the old key close); lookup codes are unique across relays; the visitor moving
 * to a tab on another relay takes its agents along without a new prompt.
 */
import { connect } from 'nats';
import t from 'tap';
import { CONSENT_BUCKET, consentKey } from '../../../protocol/cluster.ts';
import { Close } from '../../../protocol/index.ts';
import { connectAgent, connectVisitor, frame } from '../../helpers/clients.ts';
import { startCluster, until, type TestCluster } from '../../helpers/cluster.ts';

// Three relay processes and a nats-server on a shared 2-core machine: more than tap's default 120 s.
t.setTimeout(300_000);
let c: TestCluster;
t.before(async () => {
  c = await startCluster(['A', 'B', 'C']);
});
t.teardown(() => c?.stop());
const relay = (n: string) => c.relays.find((r) => r.name === n)!;

/**
 * Waits until a consent given on one relay is in the cluster's consent bucket. Relays learn it from
 * their watch of that bucket, so a switch to another relay faster than that propagation prompts the
 * visitor again (a known race, in the closing notes); these tests are about following, not that race.
 */
async function consentStored(accountId: string, visitorId: string, agentId: string): Promise<void> {
  const nc = await connect({ servers: c.nats.url });
  try {
    const kv = await nc.jetstream().views.kv(CONSENT_BUCKET);
    await until(async () => (await kv.get(consentKey(accountId, visitorId, agentId)))?.operation === 'PUT' || undefined, 5000, 'the consent in the cluster bucket');
  } finally {
    await nc.close();
  }
}

const api = (base: string, key: string, p: string, init: RequestInit = {}) =>
  fetch(`${base}${p}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

t.test('an erasure on C closes the visitor on A within 1 s', async (t) => {
  const A = relay('A'), C = relay('C');
  const { sock: visitor, welcome } = await connectVisitor(A.port, c.open.publicKey);
  const vid = welcome.visitorId as string;
  await until(async () => (await (await api(C.base, c.open.secretKey, `/api/v1/visitors/${vid}`)).json() as any).visitor?.online, 5000, 'C sees the visitor online');
  const t0 = Date.now();
  const res = await api(C.base, c.open.secretKey, `/api/v1/visitors/${vid}`, { method: 'DELETE' });
  t.equal(res.status, 200);
  const closed = await visitor.closed;
  const ms = Date.now() - t0;
  t.equal(closed.code, Close.visitorDeleted.code, 'closed 4004 on A');
  t.ok(ms < 1000, `closed ${ms} ms after the DELETE on C`);
  // The tombstone is in the shared store: coming back with the old id is refused on any relay.
  const again = await connectVisitor(relay('B').port, c.open.publicKey, { query: { vid, vt: welcome.visitorToken } }).then(
    (v) => v.welcome.visitorId !== vid,
    () => true,
  );
  t.ok(again, 'the erased visitor id is not admitted again on B');
});

t.test('a rotation on B refuses the old key on A within 1 s', async (t) => {
  const A = relay('A'), B = relay('B');
  const oldKey = c.acme.secretKey;
  t.equal((await api(A.base, oldKey, '/api/v1/visitors')).status, 200, 'A vouches for the old key (cached)');
  const tok = await c.token(c.acme, 'agent-r', 'Agent R', { generation: true });
  const agentA = await connectAgent(A.port, tok);
  const res = await api(B.base, oldKey, '/api/v1/account/rotate-secret', { method: 'POST', body: '{}' });
  t.equal(res.status, 200);
  const t0 = Date.now();
  const newKey = ((await res.json()) as { secretKey: string }).secretKey;
  await until(async () => (await api(A.base, oldKey, '/api/v1/visitors')).status === 401, 1000, 'old key refused on A');
  t.ok(Date.now() - t0 < 1000, `old key refused on A after ${Date.now() - t0} ms`);
  const closed = await Promise.race([agentA.closed, new Promise<undefined>((r) => setTimeout(r, 1000))]);
  t.equal(closed?.code, Close.tokenExpired.code, 'the agent socket on A minted under the old key is closed');
  t.equal((await api(A.base, newKey, '/api/v1/visitors')).status, 200, 'the new key works on A');
  c.acme.secretKey = newKey;
});

t.test('lookup codes are unique across relays and found from any relay', async (t) => {
  const codes = new Set<string>();
  const socks = [];
  for (let i = 0; i < 12; i++) {
    const r = c.relays[i % 3];
    const { sock } = await connectVisitor(r.port, c.open.publicKey);
    socks.push(sock);
    sock.send({ t: 'code-request' });
    codes.add((await sock.next('code')).code);
  }
  t.equal(codes.size, 12, 'twelve visitors on three relays, twelve codes');
  // The codes were claimed in the cluster's bucket: a second claim of one fails.
  const { connect } = await import('nats');
  const nc = await connect({ servers: c.nats.url });
  const kv = await nc.jetstream().views.kv('cobrowse-codes');
  const [first] = codes;
  await t.rejects(kv.create(`${c.open.accountId}.${first}`, 'x'), 'a held code cannot be claimed again');
  await nc.close();
  for (const s of socks) s.close();
});

t.test('the visitor switches to a tab on another relay: the agent follows without a new prompt', async (t) => {
  for (const [to, what] of [['C', 'a third relay'], ['B', 'the agent\'s own relay']] as const) {
    const A = relay('A'), B = relay('B');
    const { sock: tab1, welcome } = await connectVisitor(A.port, c.acme.publicKey);
    const vid = welcome.visitorId as string;
    const agentId = `agent-f-${to}`;
    const agent = await connectAgent(B.port, await c.token(c.acme, agentId));
    await until(async () => (await (await api(B.base, c.acme.secretKey, `/api/v1/visitors/${vid}`)).json() as any).visitor?.online, 5000, 'online on B');
    agent.send({ t: 'join', visitorId: vid });
    await tab1.next('consent-request');
    tab1.send({ t: 'consent', agentId, allow: true });
    await agent.next('joined');
    await consentStored(c.acme.accountId, vid, agentId);
    // A second tab of the same visitor lands on another relay and becomes the active one.
    const { sock: tab2 } = await connectVisitor(relay(to).port, c.acme.publicKey, { query: { vid, vt: welcome.visitorToken } });
    tab2.send({ t: 'tab-active' });
    const moved = await agent.next('joined', 5000, (m) => m.tabId !== welcome.tabId);
    t.not(moved.tabId, welcome.tabId, `the agent now watches the tab on ${what}`);
    await tab2.next('snapshot-request');
    t.notOk(tab2.has('consent-request'), 'no new consent prompt');
    const at = agent.frames.length;
    const f = frame(1, 1, 3000, 0x33);
    tab2.sendFrame(f);
    await agent.until(() => agent.frames.length > at, 5000, 'a frame from the new tab');
    t.ok(agent.frames[at].equals(f), `frames of the tab on ${what} reach the agent`);
    agent.close();
    tab1.close();
    tab2.close();
  }
});

t.test('a navigation lands on another relay: the agent follows without a new prompt', async (t) => {
  for (const [to, what] of [['C', 'a third relay'], ['B', 'the agent\'s own relay']] as const) {
    const A = relay('A'), B = relay('B');
    const { sock: page1, welcome } = await connectVisitor(A.port, c.acme.publicKey);
    const vid = welcome.visitorId as string;
    const agentId = `agent-nav-${to}`;
    const agent = await connectAgent(B.port, await c.token(c.acme, agentId));
    await until(async () => (await (await api(B.base, c.acme.secretKey, `/api/v1/visitors/${vid}`)).json() as any).visitor?.online, 5000, 'online on B');
    agent.send({ t: 'join', visitorId: vid });
    await page1.next('consent-request');
    page1.send({ t: 'consent', agentId, allow: true });
    await agent.next('joined');
    await consentStored(c.acme.accountId, vid, agentId);
    // The page navigates: its socket closes, the next page's socket lands on another relay (same tab id).
    page1.close();
    await agent.next('visitor-left');
    const { sock: page2 } = await connectVisitor(relay(to).port, c.acme.publicKey, { query: { vid, vt: welcome.visitorToken, tab: welcome.tabId } });
    const rejoined = await agent.until(() => agent.texts.filter((m) => m.t === 'joined').length >= 2, 8000, `joined again on ${what}`);
    t.ok(rejoined, `the agent follows the navigation to ${what}`);
    await page2.next('snapshot-request');
    t.notOk(page2.has('consent-request'), 'without a new prompt');
    const f = frame(1, 7, 1500, 0x4e);
    page2.sendFrame(f);
    await agent.until(() => agent.frames.some((x) => x.equals(f)), 5000, 'frames from the new page');
    t.pass(`frames from the page on ${what} reach the agent`);
    agent.close();
    page2.close();
  }
});
