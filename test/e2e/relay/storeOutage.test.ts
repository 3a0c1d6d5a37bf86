/** A failing or stalled store never blocks relaying; pending writes stay bounded and land on recovery. */
import t from 'tap';
import { connectAgent, connectVisitor, frame, sleep } from '../../helpers/clients.ts';
import { faultyStore } from '../../helpers/faultyStore.ts';
import { startTestRelay } from '../../helpers/relay.ts';

for (const mode of ['fail', 'stall'] as const) {
  t.test(`store ${mode}s: frames flow, writes are bounded, counted, and land later`, async (t) => {
    let store!: ReturnType<typeof faultyStore>;
    const r = await startTestRelay({ MAX_PENDING_VISITOR_WRITES: '10', VISITOR_MSGS_PER_SEC: '1000' }, { wrapStore: (s) => (store = faultyStore(s)) });
    t.teardown(r.stop);
    store.fault = mode;
    const m = r.relay.ctx.metrics;

    const v = await connectVisitor(r.port, r.open.publicKey);
    v.sock.send({ t: 'identify', userId: 'u-1' });
    const a = await connectAgent(r.port, r.token(r.open, 'alice'));
    a.send({ t: 'join', visitorId: v.welcome.visitorId });
    await a.next('joined');
    for (let i = 0; i < 200; i++) v.sock.sendFrame(frame(2, i, 1000));
    await a.until(() => a.frames.length === 200, 5000, 'frames during the outage');
    t.ok(a.frames.every((f, i) => f.readUInt32BE(1) === i), 'every frame, in order, while the store is down');

    // More visitors than the pending bound.
    const others = [];
    for (let i = 0; i < 15; i++) others.push(await connectVisitor(r.port, r.open.publicKey));
    await sleep(mode === 'fail' ? 1500 : 300);
    const w = r.relay.ctx.metadata.writer;
    t.ok(w.pendingVisitors <= 10, `pending visitor writes bounded (${w.pendingVisitors} <= 10)`);
    t.ok(m.counters.metadata_dropped_total > 0, 'what did not fit is counted as dropped');
    if (mode === 'fail') t.ok(m.counters.metadata_write_failures_total > 0, 'failures are counted');
    const metrics = await r.metricsText();
    t.match(metrics, /^cobrowse_metadata_pending_visitors \d+$/m, 'pending writes are visible in /metrics');
    t.equal(await r.relay.ctx.store.getVisitor(r.open.accountId, v.welcome.visitorId), null, 'nothing written yet');

    store.fault = 'none';
    await w.flush(Date.now(), true);
    await w.flush(Date.now(), true);
    const rec = await r.relay.ctx.store.getVisitor(r.open.accountId, v.welcome.visitorId);
    t.equal(rec?.userId, 'u-1', 'the held write lands when the store returns');
    t.equal(w.pendingVisitors, 0, 'nothing left pending');
  });
}
