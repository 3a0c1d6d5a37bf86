/** The admission gate on its own (deterministic clock): the address's share is charged before the global budget. */
import t from 'tap';
import { ADMISSION_RETRY_AFTER_MIN_MS } from '../../../../protocol/index.ts';
import { AdmissionGate } from '../../../../relay/limits/admission.ts';

t.test('an address over its share is shed without spending the global budget', async (t) => {
  const gate = new AdmissionGate(10, 1000, 3, 0);
  const now = 1000;
  for (let i = 0; i < 3; i++) t.same(gate.enter('10.0.0.1', now), { ok: true }, `storming address: admission ${i + 1} of its share`);
  for (let i = 0; i < 50; i++) {
    const r = gate.enter('10.0.0.1', now);
    t.ok(!r.ok && r.byAddress && r.retryAfterMs >= ADMISSION_RETRY_AFTER_MIN_MS, 'over its share: shed by address');
  }
  // 10 in all, 3 spent by the storming address: 7 left for the others, whatever it tried.
  for (let i = 0; i < 7; i++) t.same(gate.enter(`10.0.1.${i}`, now), { ok: true }, `another address ${i} admitted`);
  const r = gate.enter('10.0.2.1', now);
  t.ok(!r.ok && !r.byAddress, 'the global budget is spent: shed by the global budget');
  t.equal(gate.inProgress, 10, 'only admitted upgrades are pending');
});

t.test('a connect the global budget sheds gives its address its unit back', async (t) => {
  const gate = new AdmissionGate(2, 1000, 2, 0);
  const now = 1000;
  t.same(gate.enter('10.0.0.1', now), { ok: true });
  t.same(gate.enter('10.0.0.2', now), { ok: true });
  for (let i = 0; i < 5; i++) t.match(gate.enter('10.0.0.3', now), { ok: false, byAddress: false }, 'shed by the global budget, not the share');
  // One second later the global bucket has 2 again; 10.0.0.3 still has its full share of 2.
  t.same(gate.enter('10.0.0.3', now + 1000), { ok: true });
  t.same(gate.enter('10.0.0.3', now + 1000), { ok: true }, 'its share was not spent by the global sheds');
});

t.test('an IPv6 /64 is one address', async (t) => {
  const gate = new AdmissionGate(100, 1000, 1, 0);
  t.same(gate.enter('2001:db8:1:2::1', 0), { ok: true });
  t.match(gate.enter('2001:db8:1:2::ffff', 0), { ok: false, byAddress: true }, 'same /64: same share');
  t.same(gate.enter('2001:db8:1:3::1', 0), { ok: true }, 'another /64');
});
