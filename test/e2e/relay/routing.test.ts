/** Frames reach exactly the joined agents, byte for byte and in order; nobody else gets anything. */
import crypto from 'node:crypto';
import t from 'tap';
import { agentBarrier, connectAgent, connectVisitor, frame, sleep, visitorBarrier } from '../../helpers/clients.ts';
import { startTestRelay } from '../../helpers/relay.ts';

t.test('frames reach every joined agent verbatim, in order; others receive nothing', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  const a1 = await connectAgent(r.port, r.token(r.acme, 'alice'));
  const a2 = await connectAgent(r.port, r.token(r.acme, 'bob'));
  const bystander = await connectAgent(r.port, r.token(r.acme, 'carol')); // same account, never joins
  const refusedAgent = await connectAgent(r.port, r.token(r.acme, 'mallory'));
  const foreign = await connectAgent(r.port, r.token(r.other, 'eve')); // another account

  // Consent flow: join -> consent-request -> allow -> joined + snapshot-request.
  a1.send({ t: 'join', visitorId: welcome.visitorId });
  const req1 = await visitor.next('consent-request');
  t.same(req1.agent, { id: 'alice', name: 'alice' }, 'visitor is asked on behalf of the right agent');
  t.notOk(a1.has('joined'), 'not joined before consent');
  visitor.send({ t: 'consent', agentId: 'alice', allow: true });
  const joined = await a1.next('joined');
  t.equal(joined.visitorId, welcome.visitorId);
  await visitor.next('snapshot-request');

  a2.send({ t: 'join', visitorId: welcome.visitorId });
  await visitor.next('consent-request', 5000, (m) => m.agent.id === 'bob');
  visitor.send({ t: 'consent', agentId: 'bob', allow: true });
  await a2.next('joined');

  refusedAgent.send({ t: 'join', visitorId: welcome.visitorId });
  await visitor.next('consent-request', 5000, (m) => m.agent.id === 'mallory');
  visitor.send({ t: 'consent', agentId: 'mallory', allow: false });
  const refusal = await refusedAgent.next('refused');
  t.equal(refusal.reason, 'denied');

  foreign.send({ t: 'join', visitorId: welcome.visitorId });
  const foreignRefusal = await foreign.next('refused');
  t.equal(foreignRefusal.reason, 'not_found', 'another account cannot even learn the visitor exists');

  const sent: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    const size = [1, 100, 1024, 65_536, 300_000][i % 5];
    const f = crypto.randomBytes(size);
    f[0] = i === 0 ? 1 : 2;
    sent.push(f);
    visitor.sendFrame(f);
  }
  for (const a of [a1, a2]) {
    await a.until(() => a.frames.length >= sent.length, 10_000, 'all frames');
    t.equal(a.frames.length, sent.length, 'no frame lost or duplicated');
    t.ok(a.frames.every((f, i) => f.equals(sent[i])), 'every frame byte for byte, in order');
  }
  // Both watchers have every frame, so the relay has handled them all: what else it sent has arrived.
  for (const other of [bystander, refusedAgent, foreign]) await agentBarrier(other);
  t.equal(bystander.frames.length, 0, 'an agent that did not join receives nothing');
  t.equal(refusedAgent.frames.length, 0, 'a refused agent receives nothing');
  t.equal(foreign.frames.length, 0, 'another account\'s agent receives nothing');
});

t.test('a late joiner triggers snapshot-request and gets nothing from before its join', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.open.publicKey); // consent off
  const early = await connectAgent(r.port, r.token(r.open, 'early'));
  early.send({ t: 'join', visitorId: welcome.visitorId });
  await early.next('joined');
  await visitor.until(() => visitor.texts.filter((m) => m.t === 'snapshot-request').length === 1, 5000, 'first snapshot-request');
  visitor.sendFrame(frame(1, 0, 5000, 0x41));
  for (let i = 1; i <= 20; i++) visitor.sendFrame(frame(2, i, 100));
  await early.until(() => early.frames.length === 21, 5000, 'early frames');

  await sleep(150); // past the snapshot-request coalescing window
  const late = await connectAgent(r.port, r.token(r.open, 'late'));
  late.send({ t: 'join', visitorId: welcome.visitorId });
  await late.next('joined');
  await visitor.until(() => visitor.texts.filter((m) => m.t === 'snapshot-request').length === 2, 5000, 'second snapshot-request');
  await agentBarrier(late);
  t.equal(late.frames.length, 0, 'the relay replays nothing: it has no copy');
  visitor.sendFrame(frame(1, 21, 5000, 0x42));
  await late.until(() => late.frames.length === 1, 5000, 'fresh snapshot');
  t.equal(late.frames[0][0], 1, 'the first thing the late joiner sees is the fresh full snapshot');
  t.equal(late.frames[0].readUInt32BE(1), 21);
  t.equal(early.frames.length, 22, 'the early agent gets the fresh snapshot too');
});

t.test('consent survives a dropped agent connection, not an ended session; agents can leave', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  const a = await connectAgent(r.port, r.token(r.acme, 'alice'));
  a.send({ t: 'join', visitorId: welcome.visitorId });
  await visitor.next('consent-request');
  visitor.send({ t: 'consent', agentId: 'alice', allow: true });
  await a.next('joined');
  // The agent's connection drops: it comes back without a new prompt, and the visitor is told both.
  a.close();
  t.equal((await visitor.next('agent-left')).reason, 'disconnected', 'the visitor learns the connection went');
  const a2 = await connectAgent(r.port, r.token(r.acme, 'alice'));
  t.teardown(() => a2.close());
  a2.send({ t: 'join', visitorId: welcome.visitorId });
  await a2.next('joined');
  t.equal(visitor.texts.filter((m) => m.t === 'consent-request').length, 1, 'a reconnecting agent is not asked about again');
  t.equal(visitor.texts.filter((m) => m.t === 'agent-joined').length, 2, 'but the visitor is told it is back');
  // End session: nothing flows; watching again asks the visitor again.
  a2.send({ t: 'leave' });
  t.equal((await visitor.next('agent-left', 5000, (m) => m.reason === 'ended')).agentId, 'alice', 'the visitor learns the agent ended the session');
  visitor.sendFrame(frame(2, 1, 10));
  await visitorBarrier(visitor);
  await agentBarrier(a2);
  t.equal(a2.frames.length, 0, 'after leave, nothing flows');
  a2.send({ t: 'join', visitorId: welcome.visitorId });
  await visitor.until(() => visitor.texts.filter((m) => m.t === 'consent-request').length === 2, 5000, 'a second consent request');
  t.equal(a2.texts.filter((m) => m.t === 'joined').length, 1, 'not joined again before the visitor answers');
});

t.test('a refused action and a hidden UI: the reason reaches that agent only', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.open.publicKey);
  const alice = await connectAgent(r.port, r.token(r.open, 'alice'));
  const bob = await connectAgent(r.port, r.token(r.open, 'bob'));
  t.teardown(() => { alice.close(); bob.close(); });
  for (const a of [alice, bob]) {
    a.send({ t: 'join', visitorId: welcome.visitorId });
    await a.next('joined');
  }
  visitor.send({ t: 'control-refused', agentId: 'alice', action: 'input', reason: 'sensitive_field' });
  t.same(await alice.next('control-refused'), { t: 'control-refused', visitorId: welcome.visitorId, action: 'input', reason: 'sensitive_field' });
  visitor.send({ t: 'end', reason: 'ui_hidden' });
  for (const a of [alice, bob]) t.equal((await a.next('ended')).reason, 'ui_hidden', 'ended, with the reason');
  t.notOk(bob.has('control-refused'), 'bob never learns what alice tried');
});

t.test('control: tools relayed with agent id; click/input only after the visitor grants control', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.open.publicKey);
  const a = await connectAgent(r.port, r.token(r.open, 'alice'));
  a.send({ t: 'pointer', x: 1, y: 2 });
  t.equal((await a.next('error')).code, 'not_in_session', 'no tools before joining');
  a.send({ t: 'join', visitorId: welcome.visitorId });
  await a.next('joined');
  a.send({ t: 'pointer', x: 10, y: 20 });
  const p = await visitor.next('pointer');
  t.same(p, { t: 'pointer', x: 10, y: 20, agentId: 'alice' });
  a.send({ t: 'click', x: 5, y: 5 });
  const err = await a.next('error', 5000, (m) => m.code === 'control_not_granted');
  t.ok(err, 'click refused without control');
  a.send({ t: 'control-request' }); // a grant answers a request
  await visitor.next('control-request');
  visitor.send({ t: 'control', agentId: 'alice', allow: true });
  t.equal((await a.next('control')).allow, true);
  a.send({ t: 'click', x: 5, y: 6 });
  t.same(await visitor.next('click'), { t: 'click', x: 5, y: 6, agentId: 'alice' });
  visitor.send({ t: 'control', agentId: 'alice', allow: false });
  await a.next('control', 5000, (m) => m.allow === false);
  a.texts.length = 0;
  a.send({ t: 'input', nodeId: 3, value: 'x' });
  await a.next('error', 5000, (m) => m.code === 'control_not_granted');
  t.notOk(visitor.has('input'), 'revoked control stops input');
});

t.test('a visitor navigating keeps its agents: same tab id reconnects and they follow', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: v1, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  const a = await connectAgent(r.port, r.token(r.acme, 'alice'));
  a.send({ t: 'join', visitorId: welcome.visitorId });
  await v1.next('consent-request');
  v1.send({ t: 'consent', agentId: 'alice', allow: true });
  await a.next('joined');
  v1.close();
  await a.next('visitor-left');
  const { sock: v2, welcome: w2 } = await connectVisitor(r.port, r.acme.publicKey, {
    query: { vid: welcome.visitorId, vt: welcome.visitorToken, tab: welcome.tabId },
  });
  t.equal(w2.visitorId, welcome.visitorId, 'the visitor keeps its id with its token');
  await v2.next('snapshot-request');
  t.notOk(v2.has('consent-request'), 'no new consent prompt after a navigation');
  await a.until(() => a.texts.filter((m) => m.t === 'joined').length === 2, 5000, 'rejoined');
  v2.sendFrame(frame(1, 1, 50));
  await a.until(() => a.frames.length === 1, 5000, 'frames after navigation');
  v2.close();
  await a.until(() => a.texts.filter((m) => m.t === 'visitor-left').length === 2, 5000, 'second left');
});
