/**
 * The activity log cannot be forged by a visitor, nor flooded so that real entries are lost.
 * Addresses are simulated with X-Forwarded-For from a trusted proxy (TRUST_PROXY=127.0.0.1).
 * Budgets are scaled down so a flood of a few seconds spends them.
 */
import fs from 'node:fs';
import t from 'tap';
import { connectAgent, connectVisitor, connectVisitorUnlessShed, type Msg, type TestSocket } from '../../helpers/clients.ts';
import { startTestRelay, type TestRelay } from '../../helpers/relay.ts';
import type { ActivityEvent } from '../../../relay/store/types.ts';

const FLOOD_IP = '203.0.113.66';
const FLOOD_SOCKETS = 11;
const FLOOD_MS = 3000;
/** Per socket: 7 messages every 50 ms = 140/s, under VISITOR_MSGS_PER_SEC (200). 11 sockets: ~1,540/s. */
const FLOOD_TICK_MS = 50;
const ACTIVITY_PER_MIN_PER_IP = 40;
const LOG_LINES_PER_MIN_PER_IP = 10;
const ENV = {
  TRUST_PROXY: '127.0.0.1',
  ACTIVITY_PER_MIN_PER_IP: String(ACTIVITY_PER_MIN_PER_IP),
  CLIENT_LOG_LINES_PER_MIN_PER_IP: String(LOG_LINES_PER_MIN_PER_IP),
};

const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

async function allActivity(r: TestRelay): Promise<ActivityEvent[]> {
  const out: ActivityEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await r.relay.ctx.store.listActivity(r.acme.accountId, { limit: 1000, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** Writes everything pending now, batch by batch (instead of waiting for the 1 s flush timer). */
async function drained(r: TestRelay): Promise<void> {
  const writer = r.relay.ctx.metadata.writer;
  for (let i = 0; i < 200 && writer.pendingActivity > 0; i++) await writer.flush(Date.now(), true);
  if (writer.pendingActivity > 0) throw new Error('the activity queue did not drain');
}

/** Messages on one socket are handled in order: once the code arrives, everything sent before it was handled. */
async function handled(visitor: TestSocket): Promise<void> {
  const before = visitor.texts.filter((m) => m.t === 'code').length;
  visitor.send({ t: 'code-request' });
  await visitor.until(() => visitor.texts.filter((m) => m.t === 'code').length > before, 5000, 'the code');
}

/** Polls a condition the relay's own state will meet (no socket message announces it). */
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function logLines(r: TestRelay): Msg[] {
  return fs.readFileSync(r.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

t.test('a consent or control answer to nothing asked writes nothing and logs nothing at info', async (t) => {
  const r = await startTestRelay(ENV);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  const vid = welcome.visitorId;
  visitor.send({ t: 'consent', agentId: 'anyone', allow: true });
  visitor.send({ t: 'consent', agentId: 'anyone', allow: false });
  visitor.send({ t: 'control', agentId: 'anyone', allow: true });
  const counters = r.relay.ctx.metrics.counters;
  await handled(visitor);
  t.equal(counters.unrequested_answers_ignored_total, 3, 'three answers to nothing, ignored and counted');

  // A real session: control granted without a request is ignored too, with a request it counts.
  const alice = await connectAgent(r.port, r.token(r.acme, 'alice'));
  alice.send({ t: 'join', visitorId: vid });
  await visitor.next('consent-request');
  visitor.send({ t: 'consent', agentId: 'alice', allow: true });
  await alice.next('joined');
  visitor.send({ t: 'control', agentId: 'alice', allow: true });
  await handled(visitor);
  t.equal(counters.unrequested_answers_ignored_total, 4, 'a grant nobody asked for is ignored');
  alice.send({ t: 'click', x: 1, y: 1 });
  await alice.next('error', 5000, (m) => m.code === 'control_not_granted');
  alice.send({ t: 'control-request' });
  await visitor.next('control-request');
  visitor.send({ t: 'control', agentId: 'alice', allow: true });
  await alice.next('control', 5000, (m) => m.allow === true);

  await drained(r);
  const types = (await allActivity(r)).map((e) => `${e.type}:${e.agentId}`).sort();
  t.same(types, ['consent_given:alice', 'control_granted:alice', 'session_requested:alice'], 'only what the relay saw asked and answered');
  await r.stop();
  const info = logLines(r).filter((l) => l.level >= 30);
  t.notOk(info.some((l) => l.agentId === 'anyone'), 'no info line about the forged answers');
  t.ok(info.some((l) => l.msg === 'consent answered' && l.agentId === 'alice'), 'the real answer is logged');
});

t.test('a flood from one address: no forged entry, every real entry kept, flood-caused entries and log lines bounded', async (t) => {
  const r = await startTestRelay(ENV);
  let stopped = false;
  t.teardown(() => (stopped ? undefined : r.stop()));
  const counters = r.relay.ctx.metrics.counters;
  const started = performance.now();

  // ---- the flood: 11 visitor sockets from one address, each under its own limit.
  const flood = await Promise.all(Array.from({ length: FLOOD_SOCKETS }, () => connectVisitor(r.port, r.acme.publicKey, from(FLOOD_IP))));
  const floodIds = new Set(flood.map((f) => f.welcome.visitorId));
  let n = 0;
  let ticks = 0;
  const floodStart = performance.now();
  const tick = setInterval(() => {
    // Timers run late on a busy machine: send every tick that is due, so the rate holds.
    const due = Math.min(8, Math.floor((performance.now() - floodStart) / FLOOD_TICK_MS) - ticks);
    for (let k = 0; k < due; k++, ticks++) floodTick();
  }, FLOOD_TICK_MS);
  const floodTick = () => {
    for (const { sock } of flood) {
      const i = n++;
      sock.send({ t: 'consent', agentId: `forged-${i % 1000}`, allow: true });
      sock.send({ t: 'consent', agentId: 'alice', allow: i % 2 === 0 }); // a real agent that never asked this visitor
      sock.send({ t: 'control', agentId: 'alice', allow: true });
      sock.send({ t: 'end', agentId: 'alice' });
      sock.send({ t: 'identify', userId: `u${i % 50}` });
      sock.send({ t: 'page', url: `https://shop.example.com/p${i % 20}`, title: 'x' });
      sock.send({ t: 'tab-active' });
    }
  };
  // The flood lasts FLOOD_MS, and at least until the real sessions are done, so they always overlap.
  let realDone!: () => void;
  const realFinished = new Promise<void>((resolve) => (realDone = resolve));
  const minimum = new Promise<void>((resolve) => setTimeout(resolve, FLOOD_MS));
  let flooding = true;
  const floodOver = Promise.all([minimum, realFinished]).then(() => {
    clearInterval(tick);
    flooding = false;
  });

  // A rogue agent of the same account, at the same address, runs sessions with a flood visitor
  // that consents each time: real entries, but the address's budget ends them (4029).
  const [f0] = flood;
  f0.sock.ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as Msg;
    if (m.t === 'consent-request' && m.agent.id === 'mallory') f0.sock.send({ t: 'consent', agentId: 'mallory', allow: true });
  });
  const mallory = await connectAgent(r.port, r.token(r.acme, 'mallory'), from(FLOOD_IP));
  mallory.ws.on('message', (data) => {
    if ((JSON.parse(String(data)) as Msg).t === 'joined') mallory.send({ t: 'join', visitorId: f0.welcome.visitorId });
  });
  mallory.send({ t: 'join', visitorId: f0.welcome.visitorId });

  // Connect-and-forget in a loop from the same address: each erasure takes from its budget.
  let floodForgets = 0;
  let forgetsRefused = 0;
  let connectsShed = 0;
  let newVisitorsRefused = false;
  const forgetLoop = (async () => {
    let over = false;
    void floodOver.then(() => (over = true));
    while (!over) {
      const connected = await connectVisitorUnlessShed(r.port, r.acme.publicKey, from(FLOOD_IP)).catch((err: { status?: number; body?: any }) => {
        if (err.status === 429 && err.body?.error?.code === 'rate_limited') return undefined; // new visitors budgeted too
        throw err;
      });
      if (!connected) {
        newVisitorsRefused = true;
        break;
      }
      if ('shedMs' in connected) {
        // Over the address's admission share (ADMISSIONS_PER_SEC_PER_IP): pushed back as well; wait as the embed does.
        connectsShed++;
        await new Promise((resolve) => setTimeout(resolve, connected.shedMs));
        continue;
      }
      const { sock } = connected;
      sock.send({ t: 'forget' });
      const { code } = await sock.closed;
      if (code === 4004) floodForgets++;
      else if (code === 4029) forgetsRefused++;
      else throw new Error(`unexpected close ${code}`);
    }
  })();

  // ---- real sessions from other addresses while the flood runs.
  await waitFor(() => counters.control_messages_total > 1000, 10_000, 'the flood to be under way');
  const expected: Array<{ type: string; agentId?: string; visitorId?: string }> = [];
  const floodBefore = counters.control_messages_total;
  const alice = await connectAgent(r.port, r.token(r.acme, 'alice'), from('198.51.100.1'));
  for (let i = 0; i < 8; i++) {
    const { sock: v, welcome } = await connectVisitor(r.port, r.acme.publicKey, from(`198.51.100.${10 + i}`));
    const visitorId = welcome.visitorId;
    const e = (type: string) => expected.push({ type, agentId: 'alice', visitorId });
    alice.texts.length = 0;
    alice.send({ t: 'join', visitorId });
    await v.next('consent-request');
    e('session_requested');
    if (i % 4 === 3) {
      v.send({ t: 'consent', agentId: 'alice', allow: false });
      await alice.next('refused');
      e('consent_refused');
      v.close();
      continue;
    }
    v.send({ t: 'consent', agentId: 'alice', allow: true });
    await alice.next('joined');
    e('consent_given');
    alice.send({ t: 'control-request' });
    await v.next('control-request');
    v.send({ t: 'control', agentId: 'alice', allow: true });
    await alice.next('control', 5000, (m) => m.allow === true);
    e('control_granted');
    v.send({ t: 'control', agentId: 'alice', allow: false });
    await alice.next('control', 5000, (m) => m.allow === false);
    e('control_revoked');
    v.send({ t: 'end' });
    await alice.next('ended');
    e('session_ended');
    v.close();
  }
  // An erasure by the admin and one by a visitor, during the flood.
  const { sock: gone } = await connectVisitor(r.port, r.acme.publicKey, from('198.51.100.50'));
  const { sock: leaving } = await connectVisitor(r.port, r.acme.publicKey, from('198.51.100.51'));
  const del = await fetch(`http://127.0.0.1:${r.port}/api/v1/visitors/delete`, {
    method: 'POST',
    headers: { authorization: `Bearer ${r.acme.secretKey}`, 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.60' },
    body: JSON.stringify({ visitorIds: [(await gone.next('welcome')).visitorId] }),
  });
  t.match(await del.json(), { deleted: 1 }, 'the admin deletion went through during the flood');
  leaving.send({ t: 'forget' });
  t.equal((await leaving.closed).code, 4004, 'the visitor erasure went through during the flood');
  const during = counters.control_messages_total - floodBefore;
  // The overlap is what matters (the flood still running when the real work finished, and flood
  // messages handled in between); how many depends on the machine's speed, so no count is required.
  t.ok(flooding && during > 0, `the real sessions ran while the flood did (${during} messages handled meanwhile)`);
  realDone();

  await floodOver;
  await forgetLoop;
  const floodSeconds = (performance.now() - started) / 1000;
  t.equal(mallory.closeInfo?.code ?? (await mallory.closed).code, 4029, 'the rogue agent was pushed back: 4029 rate_limited');
  t.ok(forgetsRefused > 0, `connect-and-forget was pushed back too (${forgetsRefused} refused, ${floodForgets} done, ${connectsShed} connects shed${newVisitorsRefused ? ', then new visitors refused' : ''})`);
  // An erasure closes the tab (4004) before it ends (rows, scrub, vacuum, then its entry): wait for them all.
  await waitFor(() => counters.visitors_deleted_total >= floodForgets + 2, 60_000, 'the erasures to finish');
  await drained(r);

  // ---- every real entry is there, no forged one is.
  const log = await allActivity(r);
  const missing = expected.filter((x) => !log.some((e) => e.type === x.type && e.agentId === x.agentId && e.visitorId === x.visitorId));
  t.same(missing, [], `all ${expected.length} real session entries are in the log`);
  t.equal(log.filter((e) => e.type === 'data_deleted' && e.detail?.endsWith('by admin')).length, 1, 'the admin deletion is logged');
  t.equal(log.filter((e) => e.type === 'data_deleted' && e.detail?.endsWith('by the visitor')).length, floodForgets + 1,
    'every erasure that happened is logged, the real one included');
  t.notOk(log.some((e) => e.agentId?.startsWith('forged-')), 'no entry for a forged agent');
  t.notOk(log.some((e) => e.agentId === 'alice' && floodIds.has(e.visitorId ?? '')), 'no forged answer for a real agent');
  // Each budgeted action (a session, an erasure) writes at most 3 entries (requested, answered, ended).
  const budget = ACTIVITY_PER_MIN_PER_IP * (1 + floodSeconds / 60);
  const floodSessions = log.filter((e) => e.agentId === 'mallory' && e.type === 'session_ended').length;
  const floodEntries = log.filter((e) => e.agentId === 'mallory' || floodIds.has(e.visitorId ?? '')).length + floodForgets;
  t.ok(floodSessions + floodForgets <= budget, `the address ran ${floodSessions} sessions and ${floodForgets} erasures, within its budget (${budget.toFixed(1)})`);
  t.ok(floodEntries <= 3 * budget, `${floodEntries} entries caused by the flood address in all`);
  t.equal(counters.metadata_dropped_total, 0, 'nothing was dropped');
  t.comment(`flood: ${n * 7} messages sent in ${floodSeconds.toFixed(1)} s (${Math.round((n * 7) / floodSeconds)}/s); relay handled ${counters.control_messages_total} control messages`);
  t.ok(flood.every((f) => !f.sock.closeInfo), 'every flood socket stayed within its own per-socket limit');
  await Promise.all(flood.map((f) => handled(f.sock)));
  t.ok(counters.unrequested_answers_ignored_total >= 3 * n, `every forged answer was ignored and counted (${counters.unrequested_answers_ignored_total})`);
  t.ok(counters.activity_refused_total > 0, 'refusals counted');
  const metrics = await r.metricsText();
  t.match(metrics, /cobrowse_unrequested_answers_ignored_total [1-9]\d*/, '/metrics shows the ignored answers');
  t.match(metrics, /cobrowse_activity_refused_total [1-9]\d*/, '/metrics shows the refusals');

  // ---- info-level lines caused by the flood are bounded, and what was held back is reported.
  stopped = true;
  await r.stop();
  const lines = logLines(r).filter((l) => l.level >= 30);
  const floodLines = lines.filter((l) => l.agentId === 'mallory' || l.agentId?.startsWith('forged-') || (l.agentId === 'alice' && floodIds.has(l.visitorId)));
  const logBudget = LOG_LINES_PER_MIN_PER_IP * (1 + floodSeconds / 60);
  t.ok(floodLines.length <= logBudget, `${floodLines.length} info+ lines from the flood, within ${logBudget.toFixed(1)}`);
  t.notOk(floodLines.some((l) => l.agentId !== 'mallory'), 'none of them about a forged answer');
  const suppressed = lines.filter((l) => l.msg === 'client-caused log lines suppressed');
  t.ok(suppressed.length > 0 && suppressed.reduce((a, l) => a + l.suppressed, 0) > 0, 'a suppressed-count line reports what was held back');
  t.equal(counters.log_lines_suppressed_total, suppressed.reduce((a, l) => a + l.suppressed, 0), 'and it matches the counter');
  const text = fs.readFileSync(r.logFile, 'utf8');
  t.notOk(text.includes(FLOOD_IP) && lines.some((l) => JSON.stringify(l).includes(FLOOD_IP)), 'no address in an info+ line');
});
