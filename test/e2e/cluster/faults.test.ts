/**
 * Faults against a real nats-server and relay processes: NATS restarted mid-session (the
 * cross-relay session resumes by itself), the visitor's relay killed with SIGKILL (its tab leaves
 * the directory within 10 s; the visitor reconnects to another relay and the agent follows
 * without a new prompt), SIGTERM of the agent's relay (1012). Times are printed, not asserted
 * tighter than the documented bounds.
 */
import t from 'tap';
import { Close } from '../../../protocol/index.ts';
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

async function online(base: string, key: string, vid: string): Promise<boolean> {
  const res = await fetch(`${base}/api/v1/visitors/${vid}`, { headers: { authorization: `Bearer ${key}` } });
  return res.status === 200 && ((await res.json()) as { visitor: { online: boolean } }).visitor.online;
}

/** Visitor on `on`, agent on B watching it with consent given. */
async function session(on: string, agentId: string) {
  const { sock: visitor, welcome } = await connectVisitor(relay(on).port, c.acme.publicKey);
  const vid = welcome.visitorId as string;
  await until(() => online(relay('B').base, c.acme.secretKey, vid), 5000, 'online on B');
  const agent = await connectAgent(relay('B').port, await c.token(c.acme, agentId));
  agent.send({ t: 'join', visitorId: vid });
  await visitor.next('consent-request');
  visitor.send({ t: 'consent', agentId, allow: true });
  await agent.next('joined');
  return { visitor, welcome, vid, agent };
}

/** Sends frames until one reaches the agent; returns when. */
async function frameGetsThrough(visitor: TestSocket, agent: TestSocket, ms: number): Promise<number> {
  const at = agent.frames.length;
  let seq = 0;
  return until(() => {
    if (agent.frames.length > at) return Date.now();
    visitor.sendFrame(frame(2, seq++, 64));
    return false;
  }, ms, 'a frame through', 50);
}

t.test('NATS restarted mid-session: the cross-relay session resumes by itself', async (t) => {
  const { visitor, agent } = await session('A', 'agent-n');
  await frameGetsThrough(visitor, agent, 5000);
  await c.nats.stop();
  const down = Date.now();
  const notice = await agent.next('reconnecting', 5000);
  t.equal(notice.visitorId, (visitor.texts.find((m) => m.t === 'welcome'))!.visitorId, 'the agent on B is told the session is reconnecting');
  // Local traffic goes on: the visitor's relay still answers.
  t.equal((await fetch(`${relay('A').base}/healthz`)).status, 200);
  await c.nats.start();
  const back = await frameGetsThrough(visitor, agent, 20_000);
  t.pass(`frames reach the agent again ${back - down} ms after NATS went down (restart included)`);
  t.ok(agent.closeInfo === undefined, 'the agent socket was never closed');
  agent.close();
  visitor.close();
});

t.test('SIGKILL of the visitor\'s relay: directory within 10 s, visitor reconnects elsewhere, agent follows without a prompt', async (t) => {
  const { visitor, welcome, vid, agent } = await session('A', 'agent-k');
  const killed = Date.now();
  await relay('A').kill('SIGKILL');
  await visitor.closed;
  // The embed reconnects (its backoff) to another relay with its visitor id and token.
  const { sock: again } = await connectVisitor(relay('C').port, c.acme.publicKey, { query: { vid, vt: welcome.visitorToken, tab: welcome.tabId } });
  const joined = await agent.next('joined', 15_000, (m) => m.visitorId === vid && agent.texts.filter((x) => x.t === 'joined').length > 1);
  t.ok(joined, 'the agent on B rejoined the visitor, now on C');
  t.notOk(again.has('consent-request'), 'no new consent prompt');
  await again.next('snapshot-request');
  const live = await frameGetsThrough(again, agent, 10_000);
  t.pass(`live view again ${live - killed} ms after SIGKILL`);
  t.ok(live - killed < 15_000, 'within 15 s');
  agent.close();
  again.close();
});

t.test('a dead relay\'s tabs leave the directory within 10 s', async (t) => {
  const A = await c.startRelay('A');
  const { welcome } = await connectVisitor(A.port, c.open.publicKey);
  const vid = welcome.visitorId as string;
  await until(() => online(relay('B').base, c.open.secretKey, vid), 5000, 'online on B');
  const t0 = Date.now();
  await A.kill('SIGKILL');
  await until(async () => !(await online(relay('B').base, c.open.secretKey, vid)), 10_000, 'offline on B');
  t.ok(Date.now() - t0 <= 10_000, `gone from B's directory ${Date.now() - t0} ms after SIGKILL`);
});

t.test('SIGTERM of the agent\'s relay closes its sockets with 1012', async (t) => {
  const { visitor, agent } = await session('C', 'agent-t');
  const t0 = Date.now();
  await relay('B').kill('SIGTERM');
  const closed = await agent.closed;
  t.equal(closed.code, Close.serviceRestart.code, 'agent closed 1012');
  // The viewer reconnects to another relay and rejoins: consent holds.
  const agent2 = await connectAgent(relay('C').port, await c.token(c.acme, 'agent-t'));
  agent2.send({ t: 'join', visitorId: (await visitor.texts.find((m) => m.t === 'welcome'))!.visitorId });
  await agent2.next('joined');
  const live = await frameGetsThrough(visitor, agent2, 10_000);
  t.pass(`gap the agent saw: ${live - t0} ms from SIGTERM to frames on another relay`);
  t.notOk(visitor.texts.filter((m) => m.t === 'consent-request').length > 1, 'no new prompt');
  agent2.close();
  visitor.close();
});
