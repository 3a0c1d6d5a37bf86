/**
 * The metadata write rate with 10,000 idle visitors (issue 15), counted, not timed: each new visitor
 * is written once, in batched store calls; all of them reconnecting (a network blip, a page load)
 * writes nothing more; their activity within the heartbeat interval writes nothing more either.
 */
import t from 'tap';
import type { Store, VisitorUpdate } from '../../../relay/store/types.ts';
import { IdleFleet } from '../../helpers/idleFleet.ts';
import { startTestRelay } from '../../helpers/relay.ts';

const N = 10_000;

interface Counted {
  calls: number;
  rows: number;
  largestCall: number;
  ids: Map<string, number>;
}

function counting(inner: Store, c: Counted): Store {
  const s = Object.create(inner) as Store;
  s.upsertVisitors = async (batch: VisitorUpdate[]) => {
    c.calls++;
    c.rows += batch.length;
    c.largestCall = Math.max(c.largestCall, batch.length);
    for (const u of batch) c.ids.set(u.visitorId, (c.ids.get(u.visitorId) ?? 0) + 1);
    return inner.upsertVisitors(batch);
  };
  return s;
}

t.test(`${N} idle visitors: one write each, batched; reconnects and early activity write nothing`, async (t) => {
  const c: Counted = { calls: 0, rows: 0, largestCall: 0, ids: new Map() };
  const r = await startTestRelay(
    { MAX_CONNECTIONS_PER_IP: String(N), NEW_VISITORS_PER_MIN_PER_IP: '1000000', ADMISSIONS_PER_SEC: '1000000', ADMISSIONS_PER_SEC_PER_IP: '1000000', MAX_PENDING_ADMISSIONS: '1000000', LOG_LEVEL: 'info', VISITOR_GRACE_MS: '120000' },
    { wrapStore: (s) => counting(s, c) },
  );
  t.teardown(() => r.stop());
  const writer = r.relay.ctx.metadata.writer;
  const drain = async () => {
    // Poll with a deadline: write what is pending (the relay's own flush runs too).
    for (const deadline = Date.now() + 60_000; writer.pendingVisitors > 0 && Date.now() < deadline; ) await writer.flush(Date.now(), true);
    t.equal(writer.pendingVisitors, 0, 'nothing left pending');
  };

  // The visitors live in a child process: this one holds the relay's end of every socket.
  const fleet = IdleFleet.start();
  t.teardown(() => fleet.stop());
  const visitors = await fleet.request({ type: 'open', port: r.port, publicKey: r.open.publicKey, n: N });
  t.equal(new Set(visitors).size, N, `${N} visitors welcomed`);
  await drain();
  t.equal(c.rows, N, `${N} connects wrote ${c.rows} visitor rows: one each`);
  t.equal(c.ids.size, N, 'every visitor written');
  t.equal([...c.ids.values()].filter((n) => n > 1).length, 0, 'none written twice');
  t.ok(c.largestCall <= 500, `at most 500 rows per store call (largest ${c.largestCall})`);
  t.ok(c.rows / c.calls >= 10, `batched: ${c.calls} store calls for ${c.rows} rows (${(c.rows / c.calls).toFixed(0)} per call)`);

  // Every one of them drops and comes back with its ids (within the grace period): nothing is written.
  const before = { calls: c.calls, rows: c.rows };
  const again = await fleet.request({ type: 'reconnect' });
  t.same(again, visitors, 'each came back as itself');
  await drain();
  t.equal(c.rows - before.rows, 0, `${N} reconnects wrote no row (connect touches are coalesced per visitor)`);

  // Each sends a frame (activity): the heartbeat refreshes last-seen at most once a minute, so nothing yet.
  await fleet.request({ type: 'frame' });
  const counters = r.relay.ctx.metrics.counters;
  for (const deadline = Date.now() + 30_000; counters.frames_in_total < N && Date.now() < deadline; ) await new Promise((res) => setTimeout(res, 50));
  t.equal(counters.frames_in_total, N, 'every visitor sent a frame');
  await drain();
  t.equal(c.rows - before.rows, 0, 'activity within the heartbeat interval wrote no row');
  t.equal(counters.metadata_dropped_total, 0, 'no update was dropped');
  await fleet.request({ type: 'close' });
});
