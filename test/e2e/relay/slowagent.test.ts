/** A slow agent never slows the visitor or other agents, and never makes the relay buffer without bound. */
import t from 'tap';
import type { TabData } from '../../../relay/sessions/types.ts';
import { connectAgent, connectVisitor, frame, sleep } from '../../helpers/clients.ts';
import { startTestRelay } from '../../helpers/relay.ts';

const SOFT = 256 * 1024;
const FRAME = 64 * 1024;
const ENV = {
  AGENT_SOFT_BACKPRESSURE_BYTES: String(SOFT),
  MAX_PAYLOAD_BYTES: String(1024 * 1024),
  SLOW_AGENT_TIMEOUT_MS: '1500',
  VISITOR_MSGS_PER_SEC: '5000',
  MAX_RESYNCS_PER_MINUTE: '20',
};

async function session(env: Record<string, string>) {
  const r = await startTestRelay(env);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.open.publicKey);
  let snapshots = 0;
  visitor.ws.on('message', (d, isBinary) => {
    if (!isBinary && JSON.parse(String(d)).t === 'snapshot-request') snapshots++;
  });
  const agents = [];
  for (const id of ['fast1', 'fast2', 'slow']) {
    const a = await connectAgent(r.port, r.token(r.open, id));
    a.send({ t: 'join', visitorId: welcome.visitorId });
    await a.next('joined');
    agents.push(a);
  }
  return { r, visitor, agents, snapshots: () => snapshots };
}

t.test('an agent that stops reading is cut off; the others keep their stream; memory stays bounded', async (t) => {
  const { r, visitor, agents } = await session(ENV);
  t.teardown(r.stop);
  const [fast1, fast2, slow] = agents;
  slow.pauseReading();
  let maxBuffered = 0;
  const N = 600; // 600 x 64 KiB = 37.5 MiB towards an agent that reads nothing
  for (let i = 0; i < N; i++) {
    visitor.sendFrame(frame(2, i, FRAME));
    if (i % 20 === 19) {
      await sleep(5);
      for (const a of r.relay.ctx.router.agents) if (a.agentId === 'slow' && !a.closed) maxBuffered = Math.max(maxBuffered, a.ws!.getBufferedAmount());
    }
  }
  for (const a of [fast1, fast2]) {
    await a.until(() => a.frames.length >= N, 20_000, 'fast agent frames');
    t.ok(a.frames.every((f, i) => f.readUInt32BE(1) === i), 'fast agent: every frame, in order');
  }
  t.ok(maxBuffered <= SOFT + FRAME + 64 * 1024, `relay buffered at most ${maxBuffered} bytes for the stuck agent (soft limit ${SOFT} + one frame)`);
  // Process RSS here would mostly measure the test's own clients (they keep every frame);
  // the relay's RSS under a stuck agent is measured in the benchmark, in its own process.
  const m = r.relay.ctx.metrics;
  await t.resolves(
    (async () => {
      while (m.counters.slow_agents_closed_total === 0) await sleep(100);
    })(),
    'the stuck agent is closed after SLOW_AGENT_TIMEOUT_MS',
  );
  t.ok(m.counters.agent_resyncs_total >= 1, 'it was marked for resync first');
  slow.resumeReading();
  const c = await slow.closed;
  t.equal(c.code, 4008, 'closed with 4008');
  t.equal(c.reason, 'slow_consumer');
  t.equal(fast1.closeInfo, undefined, 'fast agents stay connected');
  const tab = [...r.relay.ctx.router.visitors.values()][0].tabs.values().next().value as TabData;
  t.equal(tab.agents.size, 2, 'the tab now has only the two fast agents');
});

t.test('an agent that falls behind and catches up is resynced with a fresh snapshot', async (t) => {
  const { r, visitor, agents, snapshots } = await session({ ...ENV, SLOW_AGENT_TIMEOUT_MS: '20000' });
  t.teardown(r.stop);
  const [fast1, , slow] = agents;
  const snapshotsBefore = snapshots();
  slow.pauseReading();
  for (let i = 0; i < 200; i++) visitor.sendFrame(frame(2, i, FRAME));
  await fast1.until(() => fast1.frames.length >= 200, 10_000, 'fast frames');
  await sleep(100);
  slow.resumeReading();
  await slow.next('resync', 10_000);
  // The relay asks the visitor for a fresh snapshot once the slow agent drained; answer it.
  await visitor.until(() => snapshots() > snapshotsBefore, 10_000, 'snapshot-request for the resync');
  visitor.sendFrame(frame(1, 1000, 1000));
  for (let i = 1001; i < 1010; i++) visitor.sendFrame(frame(2, i, 100));
  await slow.until(() => slow.frames.some((f) => f.readUInt32BE(1) === 1009), 10_000, 'frames after the resync');
  const resyncAt = slow.events.findIndex((e) => e.text?.t === 'resync');
  const before = slow.events.slice(0, resyncAt).filter((e) => e.frame).map((e) => e.frame!.readUInt32BE(1));
  t.ok(before.every((s, i) => s === i), 'frames before the resync notice are an unbroken prefix');
  t.ok(before.length < 200, `the slow agent skipped frames (${200 - before.length} dropped) instead of slowing anyone`);
  const after = slow.events.slice(resyncAt + 1).filter((e) => e.frame).map((e) => e.frame!);
  t.ok(after.some((f) => f[0] === 1 && f.readUInt32BE(1) === 1000), 'the fresh full snapshot reaches it after the resync');
  t.equal(slow.closeInfo, undefined, 'it stays connected');
  t.equal(r.relay.ctx.metrics.gauges.agents_lagging, 0, 'nobody is still lagging');
});

t.test('past the global buffer cap the agent holding the most is closed with 4013', async (t) => {
  // Soft limit above the global cap, so the per-agent resync never fires first.
  const { r, visitor, agents } = await session({
    ...ENV,
    AGENT_SOFT_BACKPRESSURE_BYTES: String(8 * 1024 * 1024),
    GLOBAL_BUFFERED_CAP_BYTES: String(1024 * 1024),
    SLOW_AGENT_TIMEOUT_MS: '60000',
  });
  t.teardown(r.stop);
  const [fast1, fast2, slow] = agents;
  slow.pauseReading();
  const m = r.relay.ctx.metrics;
  for (let i = 0; i < 400 && m.counters.slow_agents_closed_total === 0; i++) {
    visitor.sendFrame(frame(2, i, FRAME));
    if (i % 10 === 9) await sleep(20);
  }
  await t.resolves(
    (async () => {
      while (m.counters.slow_agents_closed_total === 0) await sleep(50);
    })(),
    'the sweep closes an agent once the relay holds more than the cap',
  );
  slow.resumeReading();
  t.same(await slow.closed, { code: 4013, reason: 'overloaded' }, 'the stuck agent, which held the most, is the one closed');
  t.equal(fast1.closeInfo, undefined, 'reading agents stay connected');
  t.equal(fast2.closeInfo, undefined, 'reading agents stay connected');
  t.equal(m.counters.agent_resyncs_total, 0, 'the per-agent limit played no part');
});
