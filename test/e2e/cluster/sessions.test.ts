/**
 * Cluster mode end to end: a real nats-server and three relay processes sharing one SQLite
 * DATA_DIR. The visitor is on A, agents on B and C: consent, frames byte-identical and in order,
 * a late joiner's snapshot, control and tools, a 5 MB snapshot across relays, the directory.
 */
import t from 'tap';
import { connectAgent, connectVisitor, frame, type TestSocket } from '../../helpers/clients.ts';
import { startCluster, until, type TestCluster } from '../../helpers/cluster.ts';

// Three relay processes and a nats-server on a shared 2-core machine: more than tap's default 120 s.
t.setTimeout(300_000);
let c: TestCluster;
t.before(async () => {
  c = await startCluster(['A', 'B', 'C']);
});
t.teardown(() => c?.stop());

const relay = (n: string) => c.relays.find((r) => r.name === n)!;

async function onlineOn(port: number, token: string, visitorId: string): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/visitors?online=true`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { items: Array<{ visitorId: string }> };
  return body.items.some((v) => v.visitorId === visitorId);
}

/** Frames `sock` received after the first `from`. */
const framesAfter = (sock: TestSocket, from: number) => sock.frames.slice(from);

t.test('visitor on A, agents on B and C: consent, frames, late join, control, 5 MB snapshot', async (t) => {
  const A = relay('A'), B = relay('B'), C = relay('C');
  const { sock: visitor, welcome } = await connectVisitor(A.port, c.acme.publicKey);
  const vid = welcome.visitorId as string;
  const tokB = await c.token(c.acme, 'agent-b', 'Agent B');
  const tokC = await c.token(c.acme, 'agent-c', 'Agent C');

  // The directory: B and C list the visitor as online (from their replica) within a bound.
  await until(() => onlineOn(B.port, tokB, vid), 5000, 'visitor online on B');
  await until(() => onlineOn(C.port, tokC, vid), 5000, 'visitor online on C');
  t.pass('the visitor on A is listed online by B and C');

  // Consent across the hop.
  const agentB = await connectAgent(B.port, tokB);
  agentB.send({ t: 'join', visitorId: vid });
  await agentB.next('consent-pending');
  const req = await visitor.next('consent-request');
  t.equal(req.agent.id, 'agent-b', 'the visitor on A is asked about the agent on B');
  visitor.send({ t: 'consent', agentId: 'agent-b', allow: true });
  const joined = await agentB.next('joined');
  t.equal(joined.visitorId, vid);
  await visitor.next('snapshot-request');
  const joinedEvent = await visitor.next('agent-joined');
  t.equal(joinedEvent.agent.id, 'agent-b');

  // Frames: byte-identical, in order.
  const sent: Buffer[] = [];
  for (let i = 0; i < 50; i++) {
    const f = frame(i === 0 ? 1 : 2, i, 200 + i * 37, 0x41 + (i % 26));
    sent.push(f);
    visitor.sendFrame(f);
  }
  await agentB.until(() => agentB.frames.length >= 50, 10_000, '50 frames on B');
  t.equal(agentB.frames.length, 50, 'no frame duplicated');
  t.ok(agentB.frames.every((f, i) => f.equals(sent[i])), 'every frame byte-identical and in order');

  // Tools and control cross the hop: pointer reaches the visitor; click needs a grant.
  agentB.send({ t: 'pointer', x: 10, y: 20 });
  const ptr = await visitor.next('pointer');
  t.same(ptr, { t: 'pointer', x: 10, y: 20, agentId: 'agent-b' });
  agentB.send({ t: 'click', x: 1, y: 1 });
  const err = await agentB.next('error', 5000, (m) => m.code === 'control_not_granted');
  t.ok(err, 'a click without a grant is refused by the visitor\'s relay');
  agentB.send({ t: 'control-request' });
  await visitor.next('control-request');
  visitor.send({ t: 'control', agentId: 'agent-b', allow: true });
  const ctl = await agentB.next('control', 5000, (m) => m.allow === true);
  t.equal(ctl.visitorId, vid, 'control granted to the agent on B');
  agentB.send({ t: 'click', x: 5, y: 6 });
  const click = await visitor.next('click');
  t.same(click, { t: 'click', x: 5, y: 6, agentId: 'agent-b' });

  // A late joiner on C: asked, then a fresh snapshot is requested and reaches both B and C.
  const agentC = await connectAgent(C.port, tokC);
  agentC.send({ t: 'join', visitorId: vid });
  await visitor.next('consent-request', 5000, (m) => m.agent.id === 'agent-c');
  const before = visitor.texts.filter((m) => m.t === 'snapshot-request').length;
  visitor.send({ t: 'consent', agentId: 'agent-c', allow: true });
  await agentC.next('joined');
  await visitor.until(() => visitor.texts.filter((m) => m.t === 'snapshot-request').length > before, 5000, 'snapshot request for the late joiner');
  const bAt = agentB.frames.length;
  // A 5 MB snapshot: over NATS's 1 MB max_payload, so chunked and joined again.
  const big = frame(1, 9999, 5 * 1024 * 1024, 0x5a);
  for (let i = 5; i < big.length; i += 4093) big[i] = i & 0xff;
  visitor.sendFrame(big);
  await agentC.until(() => agentC.frames.length >= 1, 20_000, '5 MB snapshot on C');
  await agentB.until(() => agentB.frames.length > bAt, 20_000, '5 MB snapshot on B');
  t.ok(agentC.frames[0].equals(big), 'the 5 MB snapshot arrives on C byte-identical');
  t.ok(framesAfter(agentB, bAt)[0].equals(big), 'and on B');
  for (let i = 0; i < 20; i++) visitor.sendFrame(frame(2, 10_000 + i, 100));
  await agentC.until(() => agentC.frames.length >= 21, 10_000, 'frames after the snapshot on C');
  t.same(agentC.frames.slice(1).map((f) => f.readUInt32BE(1)), Array.from({ length: 20 }, (_, i) => 10_000 + i), 'in order after the snapshot');

  // Once per relay: A sent each frame to B and C once each, not per agent.
  // B watched 50 + 1 + 20 frames, C 1 + 20 (it joined after the first 50): 92 sent, each once.
  const [mA, mB, mC] = [await A.metrics(), await B.metrics(), await C.metrics()];
  t.equal(mA.cluster_frames_out_total, 92, 'A sent each frame once per watching relay');
  t.equal(mB.cluster_frames_in_total + mC.cluster_frames_in_total, 92, 'B and C received exactly those');
  t.equal(mA.frames_in_total, 92 - 21, 'from the visitor\'s 71 frames');

  // The visitor ends sharing with B: B's agent is told, C keeps watching.
  visitor.send({ t: 'end', agentId: 'agent-b' });
  const ended = await agentB.next('ended');
  t.equal(ended.visitorId, vid);
  const cAt = agentC.frames.length;
  visitor.sendFrame(frame(2, 20_000, 64));
  await agentC.until(() => agentC.frames.length > cAt, 5000, 'C still watching');
  t.pass('C still receives after B ended');

  agentB.close();
  agentC.close();
  visitor.close();
});

t.test('bad input across the hop is dropped and counted, never a crash', async (t) => {
  const { connect } = await import('nats');
  const nc = await connect({ servers: c.nats.url });
  const A = relay('A');
  const before = (await A.metrics()).cluster_bad_messages_total;
  const junk: Uint8Array[] = [
    new Uint8Array([]),
    new Uint8Array([9, 1, 2]),
    Buffer.concat([Buffer.from([1]), Buffer.from('{not json')]),
    Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify({ op: 'agent-msg', from: 'X', agent: { sid: 'a' }, msg: {} }))]),
    Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify({ op: 'nope', from: 'X' }))]),
    new Uint8Array([2, 0, 0, 0, 0, 1, 0, 5, 0, 1, 3, 1]),
  ];
  for (const j of junk) nc.publish('cobrowse.node.A', j);
  await nc.flush();
  const counted = await until(async () => {
    const n = (await A.metrics()).cluster_bad_messages_total;
    return n >= before + junk.length && n;
  }, 5000, 'bad messages counted');
  t.equal(counted - before, junk.length, 'each malformed message dropped and counted once');
  t.equal((await fetch(`${A.base}/healthz`)).status, 200, 'A is still up');
  await nc.close();
});
