/**
 * After a relay restart (all routing state lost, as after SIGKILL), the visitor's tabs and the agent
 * reconnect in some order, and the agent rejoins naming the tab it watched (what the viewer does on
 * `ready`, then every 1.5 s while refused `not_found`). Every ordering must end with the agent in the
 * session: `joined`, and a fresh snapshot request reaching the visitor's tab. Each ordering is forced
 * here on real sockets against a relay restarted on the same data directory.
 */
import t from 'tap';
import { connectAgent, connectVisitor, type Msg, type TestSocket } from '../../helpers/clients.ts';
import { startTestRelay, type TestRelay } from '../../helpers/relay.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];
const count = (s: TestSocket, type: string) => s.texts.filter((m) => m.t === type).length;

interface Before {
  r2: TestRelay;
  visitorId: string;
  visitorToken: string;
  /** The tab the agent watched before the restart. */
  watchedTab: string;
  /** Another tab of the same visitor, open before the restart. */
  otherTab: string;
}

/** A visitor with two tabs, an agent watching the second, then the relay restarts with empty memory. */
async function watchedThenRestarted(t: Test): Promise<Before> {
  const r = await startTestRelay();
  const { sock: other, welcome: w0 } = await connectVisitor(r.port, r.acme.publicKey);
  const { sock: tab, welcome: w1 } = await connectVisitor(r.port, r.acme.publicKey, { query: { vid: w0.visitorId, vt: w0.visitorToken } });
  tab.send({ t: 'tab-active' });
  const agent = await connectAgent(r.port, r.token(r.acme, 'alice'));
  agent.send({ t: 'join', visitorId: w0.visitorId, tabId: w1.tabId });
  await tab.next('consent-request');
  tab.send({ t: 'consent', agentId: 'alice', allow: true });
  const joined = await agent.next('joined');
  t.equal(joined.tabId, w1.tabId, 'before the restart: watching the second tab');
  await r.stop(); // every socket goes, and with the process every bit of routing state
  await Promise.all([agent.closed, tab.closed, other.closed]);
  const r2 = await startTestRelay({}, { restartOf: r });
  t.teardown(r2.stop);
  return { r2, visitorId: w0.visitorId, visitorToken: w0.visitorToken, watchedTab: w1.tabId, otherTab: w0.tabId };
}

/** A visitor tab reconnecting as the embed does: same ids; `tab` undefined = a tab id the relay never saw. */
async function tabBack(b: Before, tab: string | undefined, opts: { active?: boolean } = {}) {
  const query: Record<string, string> = { vid: b.visitorId, vt: b.visitorToken, ...(tab ? { tab } : {}) };
  const v = await connectVisitor(b.r2.port, b.r2.acme.publicKey, { query });
  // The embed remembers, per tab, whom the visitor agreed to share with: it answers a repeated prompt itself.
  v.sock.ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(String(data)) as Msg;
    if (m.t === 'consent-request') v.sock.send({ t: 'consent', agentId: m.agent.id, allow: true });
  });
  if (opts.active) v.sock.send({ t: 'tab-active' });
  t.teardown(() => v.sock.close());
  return v;
}

/** The viewer's rejoin: join naming the watched tab; on `not_found`, ask again (here: when told to). */
async function rejoin(agent: TestSocket, b: Before): Promise<Msg> {
  const answers = () => agent.texts.filter((m) => m.t === 'joined' || m.t === 'refused' || m.t === 'consent-pending');
  const before = answers().length;
  agent.send({ t: 'join', visitorId: b.visitorId, tabId: b.watchedTab });
  return agent.until(() => answers()[before], 5000, 'an answer to the join');
}

async function agentBack(t: Test, b: Before): Promise<TestSocket> {
  const a = await connectAgent(b.r2.port, b.r2.token(b.r2.acme, 'alice'));
  t.teardown(() => a.close());
  return a;
}

/** The agent is in the session on `tab`, and that tab was asked for a fresh snapshot. */
async function live(t: Test, agent: TestSocket, tab: TestSocket, tabId: string) {
  const joined = await agent.until(() => agent.texts.find((m) => m.t === 'joined' && m.tabId === tabId), 5000, `joined on ${tabId}`);
  t.ok(joined, 'the agent is back in the session');
  await tab.until(() => count(tab, 'snapshot-request') > 0, 5000, 'a snapshot request');
  t.pass('a fresh snapshot was asked of the tab');
}

t.test('visitor back first, same tab; then the agent', async (t) => {
  const b = await watchedThenRestarted(t);
  const { sock: tab } = await tabBack(b, b.watchedTab, { active: true });
  const agent = await agentBack(t, b);
  await rejoin(agent, b);
  await live(t, agent, tab, b.watchedTab);
});

t.test('agent back first (refused not_found), then the visitor, same tab', async (t) => {
  const b = await watchedThenRestarted(t);
  const agent = await agentBack(t, b);
  t.match(await rejoin(agent, b), { t: 'refused', reason: 'not_found' }, 'nobody there yet');
  const { sock: tab } = await tabBack(b, b.watchedTab, { active: true });
  await rejoin(agent, b);
  await live(t, agent, tab, b.watchedTab);
});

t.test('visitor back first on a tab id the relay never saw (the watched tab did not come back)', async (t) => {
  const b = await watchedThenRestarted(t);
  const { sock: tab, welcome } = await tabBack(b, undefined, { active: true });
  t.not(welcome.tabId, b.watchedTab, 'a new tab id');
  const agent = await agentBack(t, b);
  t.match(await rejoin(agent, b), { t: 'consent-pending', visitorId: b.visitorId }, 'not refused: the visitor is online and asked again (the relay forgot the consent)');
  await live(t, agent, tab, welcome.tabId);
});

t.test('agent back first, then the visitor on a new tab id', async (t) => {
  const b = await watchedThenRestarted(t);
  const agent = await agentBack(t, b);
  t.match(await rejoin(agent, b), { t: 'refused', reason: 'not_found' }, 'nobody there yet');
  const { sock: tab, welcome } = await tabBack(b, undefined, { active: true });
  t.notMatch(await rejoin(agent, b), { t: 'refused' }, 'the next rejoin finds the visitor');
  await live(t, agent, tab, welcome.tabId);
});

t.test('only the other tab is back; the agent watches it, then follows the watched tab when it returns', async (t) => {
  const b = await watchedThenRestarted(t);
  const { sock: other } = await tabBack(b, b.otherTab);
  const agent = await agentBack(t, b);
  t.notMatch(await rejoin(agent, b), { t: 'refused' }, 'not refused: the visitor is online on another tab');
  await live(t, agent, other, b.otherTab);
  const { sock: tab } = await tabBack(b, b.watchedTab, { active: true }); // the visitor is on it again
  await live(t, agent, tab, b.watchedTab);
});

t.test('both tabs back, watched one last: the agent ends up on the tab the visitor is on', async (t) => {
  const b = await watchedThenRestarted(t);
  const agent = await agentBack(t, b);
  t.match(await rejoin(agent, b), { t: 'refused', reason: 'not_found' }, 'nobody there yet');
  const { sock: other } = await tabBack(b, b.otherTab);
  await rejoin(agent, b);
  await live(t, agent, other, b.otherTab);
  const { sock: tab } = await tabBack(b, b.watchedTab, { active: true });
  await live(t, agent, tab, b.watchedTab);
});
