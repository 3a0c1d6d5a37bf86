/** Reconnect backoff (client/backoff.ts) with an injected random: full jitter under a growing, capped ceiling. */
import t from 'tap';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, MAX_BACKOFF_ATTEMPT, backoffDelay } from '../../../client/backoff.ts';

const almostOne = () => 1 - Number.EPSILON;

t.test('the ceiling doubles from the base each attempt', async (t) => {
  for (let attempt = 0; attempt < 5; attempt++) {
    const ceiling = BACKOFF_BASE_MS * 2 ** attempt;
    t.ok(Math.abs(backoffDelay(attempt, almostOne) - ceiling) < 1e-6, `attempt ${attempt}: ceiling ${ceiling} ms`);
  }
});

t.test('the ceiling is capped, also for huge attempt counts', async (t) => {
  t.equal(backoffDelay(MAX_BACKOFF_ATTEMPT, () => 0.5), BACKOFF_CAP_MS / 2);
  t.equal(backoffDelay(1000, () => 0.5), BACKOFF_CAP_MS / 2, 'no Infinity or NaN from 2 ** 1000');
});

t.test('full jitter: the delay is random times the ceiling, from zero', async (t) => {
  t.equal(backoffDelay(3, () => 0), 0, 'random 0: reconnect at once');
  t.equal(backoffDelay(3, () => 0.25), 0.25 * BACKOFF_BASE_MS * 8);
  const draws = Array.from({ length: 200 }, () => backoffDelay(4));
  t.ok(draws.every((d) => d >= 0 && d < BACKOFF_BASE_MS * 16), 'Math.random by default, within [0, ceiling)');
  t.ok(new Set(draws).size > 100, 'and actually spread out');
});
