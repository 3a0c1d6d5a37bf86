/** The visitor socket's reconnect delay and its reading of the /v1/visitor/check answer (client/backoff.ts). */
import t from 'tap';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffDelay, checkRefusalCode, diagnose, MAX_BACKOFF_ATTEMPT } from '../../../client/backoff.ts';

t.test('backoff: exponential from 500 ms, capped at 30 s, scaled by the random (full jitter)', async (t) => {
  const top = () => 1 - Number.EPSILON;
  t.equal(backoffDelay(0, () => 0), 0, 'full jitter: the low end is an immediate retry');
  t.equal(backoffDelay(0, () => 0.5), BACKOFF_BASE_MS / 2, 'attempt 0: half of 500 ms at random 0.5');
  const steps = [0, 1, 2, 3, 4, 5, 6].map((a) => Math.round(backoffDelay(a, top)));
  t.same(steps, [500, 1000, 2000, 4000, 8000, 16000, 30000], 'doubles each attempt until the cap');
  t.equal(Math.round(backoffDelay(MAX_BACKOFF_ATTEMPT, top)), BACKOFF_CAP_MS, 'the largest attempt stays at the cap');
  t.equal(Math.round(backoffDelay(1000, top)), BACKOFF_CAP_MS, 'an absurd attempt count is still capped (no Infinity)');
  for (let a = 0; a <= MAX_BACKOFF_ATTEMPT; a++) {
    const d = backoffDelay(a);
    if (!(d >= 0 && d <= BACKOFF_CAP_MS)) t.fail(`attempt ${a}: ${d} ms is outside [0, cap] with Math.random`);
  }
  t.pass('with the real Math.random every attempt stays within [0, cap]');
});

t.test('check answer: 204 is no refusal; the code is read only when it is a string', async (t) => {
  t.equal(checkRefusalCode(204, { error: { code: 'unknown_key' } }), undefined, '204 wins over any body');
  t.equal(checkRefusalCode(403, { error: { code: 'forbidden_origin', message: 'x' } }), 'forbidden_origin');
  t.equal(checkRefusalCode(401, { error: { code: 42 } }), undefined, 'a non-string code is unknown');
  t.equal(checkRefusalCode(500, null), undefined, 'a null body');
  t.equal(checkRefusalCode(500, 'oops'), undefined, 'a string body');
  t.equal(checkRefusalCode(503, {}), undefined, 'no error object');
});

t.test('diagnose: permanent refusals stop, a bad visitor token starts fresh, the rest retries', async (t) => {
  for (const code of ['missing_key', 'unknown_key', 'forbidden_origin']) t.equal(diagnose(code), 'stop', `${code}: stop`);
  t.equal(diagnose('visitor_token_invalid'), 'fresh', 'stale ids: forget them and connect at once');
  for (const code of [undefined, '', 'rate_limited', 'overloaded', 'something_new']) t.equal(diagnose(code), 'retry', `${JSON.stringify(code)}: retry later`);
});
