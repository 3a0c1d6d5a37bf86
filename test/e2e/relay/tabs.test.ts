/**
 * A visitor with several tabs: agents watch one tab at a time and follow the visitor to the tab
 * they switch to (`tab-active`), without a new prompt; control ends with the move.
 */
import t from 'tap';
import { agentBarrier, connectAgent, connectVisitor, frame, visitorBarrier, type Msg, type TestSocket } from '../../helpers/clients.ts';
import { startTestRelay, type TestRelay } from '../../helpers/relay.ts';

/** A second tab of the same visitor: same id and token, its own tab id. */
async function secondTab(r: TestRelay, welcome: Msg) {
  return connectVisitor(r.port, r.acme.publicKey, { query: { vid: welcome.visitorId, vt: welcome.visitorToken } });
}

async function watch(r: TestRelay, tab: TestSocket, visitorId: string, agentId: string): Promise<TestSocket> {
  const a = await connectAgent(r.port, r.token(r.acme, agentId));
  a.send({ t: 'join', visitorId });
  await tab.next('consent-request', 5000, (m) => m.agent.id === agentId);
  tab.send({ t: 'consent', agentId, allow: true });
  await a.next('joined');
  return a;
}

const count = (s: TestSocket, type: string, match: (m: Msg) => boolean = () => true) => s.texts.filter((m) => m.t === type && match(m)).length;

t.test('agents follow the visitor to the tab they switch to', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: tab1, welcome: w1 } = await connectVisitor(r.port, r.acme.publicKey);
  const { sock: tab2, welcome: w2 } = await secondTab(r, w1);
  t.equal(w2.visitorId, w1.visitorId, 'one visitor');
  t.not(w2.tabId, w1.tabId, 'two tabs');
  tab1.send({ t: 'tab-active' }); // the visitor is on tab 1
  await visitorBarrier(tab1);
  const alice = await watch(r, tab1, w1.visitorId, 'alice');
  t.equal(alice.texts.find((m) => m.t === 'joined')!.tabId, w1.tabId, 'the agent watches the tab the visitor is on');
  alice.send({ t: 'control-request' });
  await tab1.next('control-request');
  tab1.send({ t: 'control', agentId: 'alice', allow: true });
  await alice.next('control', 5000, (m) => m.allow === true);

  // The visitor switches to tab 2.
  tab2.send({ t: 'tab-active' });
  const moved = await alice.until(() => alice.texts.filter((m) => m.t === 'joined')[1], 5000, 'the second joined');
  t.equal(moved.tabId, w2.tabId, 'joined again, now on tab 2');
  await tab2.next('agent-joined', 5000, (m) => m.agent.id === 'alice');
  await tab2.next('snapshot-request');
  t.equal(count(tab2, 'consent-request'), 0, 'no new prompt: the visitor already agreed');
  await tab1.next('agent-left', 5000, (m) => m.agentId === 'alice');
  t.pass('tab 1 is told the agent left it (its sharing bar goes, its recorder stops)');
  await alice.next('control', 5000, (m) => m.allow === false);
  t.pass('control ended with the move');
  alice.send({ t: 'click', x: 1, y: 1 });
  await alice.next('error', 5000, (m) => m.code === 'control_not_granted');
  t.equal(count(tab2, 'click'), 0, 'a click after the move is not forwarded without a new grant');

  // Frames: only the watched tab's reach the agent.
  const before = alice.frames.length;
  tab1.sendFrame(frame(2, 1, 100, 0x31));
  tab2.sendFrame(frame(1, 2, 100, 0x32));
  await alice.until(() => alice.frames.length > before, 5000, 'a frame from tab 2');
  await visitorBarrier(tab1);
  await agentBarrier(alice);
  t.same(alice.frames.slice(before).map((f) => f[5]), [0x32], "only tab 2's frames reach the agent");

  // Tools go to the tab the agent now watches.
  alice.send({ t: 'pointer', x: 5, y: 6 });
  await tab2.next('pointer', 5000, (m) => m.agentId === 'alice');
  t.equal(count(tab1, 'pointer'), 0, 'the pointer shows on tab 2 only');

  // Repeated or redundant tab-active messages change nothing.
  const joinedBefore = count(alice, 'joined');
  tab2.send({ t: 'tab-active' });
  tab2.send({ t: 'tab-active' });
  await visitorBarrier(tab2);
  await agentBarrier(alice);
  t.equal(count(alice, 'joined'), joinedBefore, 'tab-active from the watched tab is a no-op');

  // Back to tab 1.
  tab1.send({ t: 'tab-active' });
  await alice.until(() => alice.texts.filter((m) => m.t === 'joined')[2], 5000, 'the third joined');
  t.equal(alice.texts.filter((m) => m.t === 'joined')[2].tabId, w1.tabId, 'and back to tab 1');

  // Tab 1 closes while watched; the visitor goes to tab 2: the agent follows instead of waiting.
  tab1.close();
  await alice.next('visitor-left');
  tab2.send({ t: 'tab-active' });
  await alice.until(() => alice.texts.filter((m) => m.t === 'joined')[3], 5000, 'the fourth joined');
  t.equal(alice.texts.filter((m) => m.t === 'joined')[3].tabId, w2.tabId, 'a follower joins the tab the visitor went to');
  t.equal(count(alice, 'ended'), 0, 'the session did not end');
});

t.test('a consent prompt follows the visitor too; other accounts and visitors are untouched', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const { sock: tab1, welcome: w1 } = await connectVisitor(r.port, r.acme.publicKey);
  const { sock: tab2, welcome: w2 } = await secondTab(r, w1);
  const { sock: otherVisitor, welcome: wo } = await connectVisitor(r.port, r.acme.publicKey);
  const bob = await watch(r, otherVisitor, wo.visitorId, 'bob');

  const alice = await connectAgent(r.port, r.token(r.acme, 'alice'));
  tab1.send({ t: 'tab-active' });
  await visitorBarrier(tab1);
  alice.send({ t: 'join', visitorId: w1.visitorId });
  await tab1.next('consent-request');
  tab2.send({ t: 'tab-active' });
  await tab2.next('consent-request', 5000, (m) => m.agent.id === 'alice');
  t.pass('the pending prompt is shown on the tab the visitor switched to');
  t.notOk(alice.has('joined'), 'still nothing before consent');
  t.equal(alice.frames.length, 0);
  tab2.send({ t: 'consent', agentId: 'alice', allow: true });
  const joined = await alice.next('joined');
  t.equal(joined.tabId, w2.tabId, 'allowed on tab 2, watched there');
  await tab2.next('snapshot-request');
  t.equal(count(tab1, 'snapshot-request'), 0, 'tab 1 is not asked for a snapshot');

  const bobJoins = count(bob, 'joined');
  tab1.send({ t: 'tab-active' });
  await alice.until(() => count(alice, 'joined') === 2, 5000, 'alice follows');
  await agentBarrier(bob);
  await visitorBarrier(otherVisitor);
  t.equal(count(bob, 'joined'), bobJoins, "another visitor's agent does not move");
  t.equal(count(otherVisitor, 'agent-left'), 0, 'and that visitor is not touched');

  // The visitor stops sharing: a later tab switch brings no one back.
  tab1.send({ t: 'end' });
  await alice.next('ended');
  tab2.send({ t: 'tab-active' });
  await visitorBarrier(tab2);
  await agentBarrier(alice);
  t.equal(count(alice, 'joined'), 2, 'no session after the visitor ended it');
  t.equal(count(tab2, 'agent-joined', (m) => m.agent.id === 'alice'), 1, 'tab 2 saw alice only the first time');
});
