/**
 * The failed-authentication budget and the scrypt slots (relay/auth/authGate.ts) on their own. The
 * budgets here refill at one unit in 20 s, so nothing refills while a test runs.
 */
import t from 'tap';
import { AuthGate, isRefusal, type AuthRefusal, type AuthTicket } from '../../../../relay/auth/authGate.ts';

const gate = (o: Partial<ConstructorParameters<typeof AuthGate>[0]> = {}) =>
  new AuthGate({ failuresPerMin: 3, maxScryptInFlight: 100, maxScryptInFlightPerIp: 100, ...o });

function ticket(x: AuthTicket | AuthRefusal): AuthTicket {
  if (isRefusal(x)) throw new Error(`refused: ${x.message}`);
  return x;
}

t.test('reserve first: failures use the budget, a verified key gives its unit back', async (t) => {
  const g = gate();
  for (let i = 0; i < 10; i++) ticket(g.reserve('198.51.100.1', false)).settle(true);
  t.pass('ten verified keys in a row from one address: never refused');
  for (let i = 0; i < 3; i++) ticket(g.reserve('198.51.100.1', false)).settle(false);
  const r = g.reserve('198.51.100.1', false);
  t.ok(isRefusal(r), 'the fourth failure in a minute is refused before it is verified');
  t.match(r, { refused: 'rateLimited', message: /failed authentications/ });
  t.ok((r as AuthRefusal).retryAfterSec >= 1 && (r as AuthRefusal).retryAfterSec <= 20, 'Retry-After: when one unit is back');
  t.notOk(isRefusal(g.reserve('198.51.100.2', false)), 'another address has its own budget');
});

t.test('concurrency cannot beat the budget: reservations count while they are pending', async (t) => {
  const g = gate();
  const pending = [0, 1, 2].map(() => ticket(g.reserve('203.0.113.5', false)));
  t.ok(isRefusal(g.reserve('203.0.113.5', false)), 'three in flight use the whole budget');
  pending[0].settle(true);
  pending[0].settle(true); // a second settle is ignored
  const again = g.reserve('203.0.113.5', false);
  t.notOk(isRefusal(again), 'one verified: exactly one unit back (settling twice gave no more)');
  t.ok(isRefusal(g.reserve('203.0.113.5', false)), 'and no second one');
});

t.test('scrypt slots: per address (429) and in all (503), released when settled', async (t) => {
  const g = gate({ failuresPerMin: 1000, maxScryptInFlight: 3, maxScryptInFlightPerIp: 2 });
  const a = [ticket(g.reserve('198.51.100.1', true)), ticket(g.reserve('198.51.100.1', true))];
  t.match(g.reserve('198.51.100.1', true), { refused: 'rateLimited', message: /in progress from this address/ }, 'a third from one address');
  t.notOk(isRefusal(g.reserve('198.51.100.1', false)), 'a cached key (no scrypt) is not held back by the slots');
  const b = ticket(g.reserve('198.51.100.2', true));
  t.equal(g.scryptInFlight, 3);
  t.match(g.reserve('198.51.100.3', true), { refused: 'overloaded', retryAfterSec: 1 }, 'all slots taken: overloaded, for anyone');
  a[0].settle(false);
  t.equal(g.scryptInFlight, 2, 'a failure releases its slot too');
  t.notOk(isRefusal(g.reserve('198.51.100.3', true)), 'a slot is free again');
  t.equal(g.peakScryptInFlight, 3);
  t.equal(g.peakScryptInFlightPerIp, 2);
  b.settle(true);
  a[1].settle(true);
});

t.test('an IPv6 /64 is one client', async (t) => {
  const g = gate({ failuresPerMin: 2 });
  ticket(g.reserve('2001:db8:1:2::1', false)).settle(false);
  ticket(g.reserve('2001:db8:1:2::ffff', false)).settle(false);
  t.ok(isRefusal(g.reserve('2001:db8:1:2:abcd::9', false)), 'a third address in the same /64 shares the budget');
  t.notOk(isRefusal(g.reserve('2001:db8:1:3::1', false)), 'the next /64 does not');
});

t.test('cheap credentials: a failure is charged after the check; past the budget it becomes a 429', async (t) => {
  const g = gate();
  for (let i = 0; i < 3; i++) t.equal(g.chargeFailure('192.0.2.7'), undefined, `failure ${i + 1}: answered 401`);
  t.match(g.chargeFailure('192.0.2.7'), { refused: 'rateLimited' }, 'past the budget: answered 429');
  t.ok(isRefusal(g.reserve('192.0.2.7', false)), 'the same budget as secret keys');
});
