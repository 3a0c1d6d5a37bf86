/**
 * Backpressure across the hop: an agent on B that stops reading a stream from a visitor on A is
 * resynced by B exactly as a slow agent of a local tab is (unsubscribed, `resync`), and once it
 * drains B asks A for a fresh snapshot, which A asks of the visitor. Neither relay buffers without
 * bound; what each holds is in /metrics.
 */
import t from 'tap';
import { connectAgent, connectVisitor, frame } from '../../helpers/clients.ts';
import { startCluster, until, type TestCluster } from '../../helpers/cluster.ts';

// Three relay processes and a nats-server on a shared 2-core machine: more than tap's default 120 s.
t.setTimeout(300_000);
let c: TestCluster;
t.before(async () => {
  c = await startCluster(['A', 'B'], { AGENT_SOFT_BACKPRESSURE_BYTES: String(256 * 1024) });
});
t.teardown(() => c?.stop());
const relay = (n: string) => c.relays.find((r) => r.name === n)!;

t.test('a slow agent on the watching relay is resynced, then gets a fresh snapshot from the visitor\'s relay', async (t) => {
  const A = relay('A'), B = relay('B');
  const { sock: visitor, welcome } = await connectVisitor(A.port, c.open.publicKey);
  const vid = welcome.visitorId as string;
  const agent = await connectAgent(B.port, await c.token(c.open, 'slow'));
  await until(async () => {
    agent.send({ t: 'join', visitorId: vid });
    return agent.next('joined', 300).catch(() => undefined);
  }, 10_000, 'joined across relays');
  agent.pauseReading();
  // 64 KB frames until B marks the agent lagging (its socket buffer passes the soft limit).
  let seq = 0;
  await until(async () => {
    for (let i = 0; i < 20; i++) visitor.sendFrame(frame(2, seq++, 64 * 1024));
    return (await B.metrics()).agents_lagging === 1;
  }, 20_000, 'agent lagging on B', 100);
  const mB = await B.metrics();
  t.equal(mB.agents_lagging, 1, 'B resynced its slow agent');
  t.ok(mB.agent_resyncs_total >= 1);
  // The visitor's relay is not slowed and holds nothing for it beyond the capped unconfirmed bytes.
  const mA = await A.metrics();
  t.ok(mA.cluster_unconfirmed_bytes <= 64 * 1024 * 1024, `A holds ${mA.cluster_unconfirmed_bytes} unconfirmed bytes (cap 64 MiB)`);
  t.equal(mA.agents_lagging, 0, 'nothing lagging on A');
  const requestsBefore = visitor.texts.filter((m) => m.t === 'snapshot-request').length;
  agent.resumeReading();
  await agent.next('resync', 10_000);
  t.pass('the agent was told to resync, in order with its stream');
  await visitor.until(() => visitor.texts.filter((m) => m.t === 'snapshot-request').length > requestsBefore, 10_000, 'snapshot requested after the drain');
  t.pass('after draining, the visitor on A was asked for a fresh snapshot');
  const snap = frame(1, 99_999, 2000, 0x53);
  const at = agent.frames.length;
  visitor.sendFrame(snap);
  await agent.until(() => agent.frames.slice(at).some((f) => f.equals(snap)), 10_000, 'the fresh snapshot on B');
  t.pass('the fresh snapshot reaches the agent on B');
  t.equal((await B.metrics()).agents_lagging, 0, 'no longer lagging');
  agent.close();
  visitor.close();
});
