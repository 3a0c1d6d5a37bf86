/**
 * Admission under a connect storm (issue 15): over ADMISSIONS_PER_SEC / MAX_PENDING_ADMISSIONS a
 * visitor is shed with `error {code: try_again_later, retryAfterMs}` and close 4503, nothing else:
 * no crash, no other refusal, no visitor or metadata created for it; the retry-afters spread the herd
 * at the admitted rate; a shed visitor that comes back later is admitted. And fairness: one address
 * storming is held to its own share (ADMISSIONS_PER_SEC_PER_IP), so others are still admitted.
 */
import t from 'tap';
import { ADMISSION_RETRY_AFTER_MAX_MS, ADMISSION_RETRY_AFTER_MIN_MS, Close } from '../../../protocol/index.ts';
import { startTestRelay } from '../../helpers/relay.ts';
import { LOOPBACK_SOURCES, stormVisitor, type StormOutcome } from '../../helpers/stormClients.ts';

const RATE = 20;
const PENDING = 5;
const STORM = 300;

t.test('a connect storm is shed with 4503 try_again_later and a spread retry-after', async (t) => {
  const r = await startTestRelay({ ADMISSIONS_PER_SEC: String(RATE), MAX_PENDING_ADMISSIONS: String(PENDING), MAX_CONNECTIONS_PER_IP: '2000', NEW_VISITORS_PER_MIN_PER_IP: '100000' });
  t.teardown(() => r.stop());
  const started = Date.now();
  const outcomes = await Promise.all(Array.from({ length: STORM }, () => stormVisitor(r.port, r.open.publicKey)));
  const elapsedSec = (Date.now() - started) / 1000;
  const admitted = outcomes.filter((o): o is Extract<StormOutcome, { kind: 'welcome' }> => o.kind === 'welcome');
  const shed = outcomes.filter((o): o is Extract<StormOutcome, { kind: 'shed' }> => o.kind === 'shed');
  const other = outcomes.filter((o) => o.kind === 'other');
  t.same(other, [], 'every connect was admitted or shed: no other refusal, no error');
  t.ok(admitted.length >= 1, `some were admitted (${admitted.length})`);
  t.ok(admitted.length <= RATE + Math.ceil(RATE * elapsedSec) + 1, `no more than the burst plus the rate were admitted (${admitted.length} in ${elapsedSec.toFixed(1)} s)`);
  t.ok(shed.length >= STORM / 2, `most of the storm was shed (${shed.length} of ${STORM})`);

  const bad = shed.filter((s) => s.code !== Close.tryAgainLater.code || s.reason !== Close.tryAgainLater.reason || s.error.code !== Close.tryAgainLater.reason);
  t.same(bad, [], 'each shed socket got error try_again_later then close 4503 try_again_later');
  const retries = shed.map((s) => s.error.retryAfterMs ?? -1).sort((a, b) => a - b);
  t.ok(retries[0] >= ADMISSION_RETRY_AFTER_MIN_MS && retries[retries.length - 1] <= ADMISSION_RETRY_AFTER_MAX_MS, `retry-afters within bounds (${retries[0]}..${retries[retries.length - 1]} ms)`);
  // Slots at the admitted rate: the n-th shed visitor is told about n / RATE seconds later than the first.
  const spreadMs = retries[retries.length - 1] - retries[0];
  const expected = Math.min(ADMISSION_RETRY_AFTER_MAX_MS - ADMISSION_RETRY_AFTER_MIN_MS, ((shed.length - 1) / RATE) * 1000);
  t.ok(spreadMs >= expected - elapsedSec * 1000 - 1000, `retry-afters spread the herd at the admitted rate (${spreadMs} ms across ${shed.length}; ≈${Math.round(expected)} expected)`);
  t.ok(new Set(retries).size >= shed.length / 2, 'retry-afters are (nearly) all different');

  const ctx = r.relay.ctx;
  t.equal(ctx.metrics.counters.visitors_shed_total, shed.length, 'cobrowse_visitors_shed_total counts them');
  t.equal(ctx.router.visitors.size, admitted.length, 'a shed connect creates no visitor');
  t.ok(ctx.metadata.writer.pendingVisitors + ctx.metrics.counters.metadata_writes_total <= admitted.length, 'a shed connect writes no metadata');
  t.equal(ctx.metrics.gauges.visitor_sockets, admitted.length, 'only admitted sockets are counted as visitors');
  const metrics = await r.metricsText();
  t.match(metrics, new RegExp(`cobrowse_visitors_shed_total ${shed.length}\\b`), 'exported at /metrics');

  // Coming back after the storm (as told: poll until admitted), a shed visitor is let in.
  let back: StormOutcome | undefined;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    back = await stormVisitor(r.port, r.open.publicKey);
    if (back.kind !== 'shed') break;
    await new Promise((res) => setTimeout(res, 200));
  }
  t.equal(back?.kind, 'welcome', 'after the storm a visitor is admitted again');
  if (back?.kind === 'welcome') back.sock.close();
  for (const a of admitted) a.sock.close();
});

t.test('one address storming does not stop another address\'s visitors from being admitted', async (t) => {
  const SHARE = 3;
  const WORKERS = 60;
  const r = await startTestRelay({ ADMISSIONS_PER_SEC: String(RATE), ADMISSIONS_PER_SEC_PER_IP: String(SHARE), MAX_PENDING_ADMISSIONS: String(PENDING), MAX_CONNECTIONS_PER_IP: '2000', NEW_VISITORS_PER_MIN_PER_IP: '100000' });
  t.teardown(() => r.stop());
  const counters = r.relay.ctx.metrics.counters;
  // The storm: 127.0.0.1 reconnects at once whenever it is shed, ignoring the retry-after (a hostile
  // or broken client), until the other addresses are done. Without a share it would take every token.
  let storming = true;
  const stormAdmitted: StormOutcome[] = [];
  const stormShed: Extract<StormOutcome, { kind: 'shed' }>[] = [];
  const stormOther: StormOutcome[] = [];
  let onEnoughShed!: () => void;
  const enoughShed = new Promise<void>((res) => (onEnoughShed = res));
  const started = Date.now();
  const worker = async () => {
    while (storming) {
      const o = await stormVisitor(r.port, r.open.publicKey);
      if (o.kind === 'welcome') stormAdmitted.push(o);
      else if (o.kind === 'shed') stormShed.push(o);
      else stormOther.push(o);
      if (stormShed.length + stormOther.length >= 200) onEnoughShed();
    }
  };
  const workers = Array.from({ length: WORKERS }, worker);
  await enoughShed; // the storm is under way: well past the global burst

  // Others, from other addresses, while the storm goes on: each is admitted.
  const others: StormOutcome[] = [];
  for (const source of LOOPBACK_SOURCES.slice(0, 4)) others.push(await stormVisitor(r.port, r.open.publicKey, {}, source));
  storming = false;
  await Promise.all(workers);
  const elapsedSec = (Date.now() - started) / 1000;

  t.same(others.map((o) => o.kind), ['welcome', 'welcome', 'welcome', 'welcome'], 'every visitor from another address was admitted during the storm');
  t.same(stormOther, [], 'the storming address was admitted or shed: no other refusal, no error');
  t.ok(stormAdmitted.length <= SHARE + Math.ceil(SHARE * elapsedSec) + 1, `the storming address got no more than its share (${stormAdmitted.length} in ${elapsedSec.toFixed(1)} s, share ${SHARE}/s)`);
  const bad = stormShed.filter((s) => s.code !== Close.tryAgainLater.code || s.reason !== Close.tryAgainLater.reason || s.error.code !== Close.tryAgainLater.reason
    || (s.error.retryAfterMs ?? -1) < ADMISSION_RETRY_AFTER_MIN_MS || (s.error.retryAfterMs ?? Infinity) > ADMISSION_RETRY_AFTER_MAX_MS);
  t.same(bad, [], `over its share it was shed the documented way: error try_again_later with a retry-after in bounds, close 4503 (${stormShed.length} shed)`);
  t.equal(counters.visitors_shed_total, stormShed.length, 'every shed counted');
  t.ok(counters.visitors_shed_by_address_total >= stormShed.length - RATE * Math.ceil(elapsedSec + 1), `nearly all of them for the address's share (${counters.visitors_shed_by_address_total})`);
  t.match(await r.metricsText(), /cobrowse_visitors_shed_by_address_total \d+/, 'exported at /metrics');
  for (const o of [...others, ...stormAdmitted]) if (o.kind === 'welcome') o.sock.close();
});
