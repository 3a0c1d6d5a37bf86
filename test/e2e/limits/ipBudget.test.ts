/**
 * Per-address budgets cannot be got around: an IPv6 /64 is one client (every budget and the
 * connection cap), and a full table never forgets a bucket in deficit (no lockout is wiped).
 * The limiter is pure logic (explicit clock); the /64 keying also runs on a real relay, client
 * addresses simulated with X-Forwarded-For from the trusted loopback proxy.
 */
import t from 'tap';
import { budgetKey } from '../../../relay/limits/budgetKey.ts';
import { IpConnections } from '../../../relay/limits/ipConnections.ts';
import { IpRateLimiter } from '../../../relay/limits/ipRateLimiter.ts';
import { agentUpgrade, restCall } from '../../helpers/authProbe.ts';
import { startTestRelay } from '../../helpers/relay.ts';

t.test('budgetKey: IPv6 by /64, IPv4 (plain or mapped) by address', async (t) => {
  t.equal(budgetKey('2001:db8:1:2::1'), budgetKey('2001:0db8:0001:0002:ffff:ffff:ffff:fffe'), 'two addresses of one /64 share a key');
  t.not(budgetKey('2001:db8:1:2::1'), budgetKey('2001:db8:1:3::1'), 'the next /64 does not');
  t.equal(budgetKey('::ffff:198.51.100.1'), '198.51.100.1', 'IPv4-mapped (dual-stack socket) is the IPv4 address');
  t.equal(budgetKey('0000:0000:0000:0000:0000:ffff:c633:6401'), '198.51.100.1', 'also written out in hex');
  t.not(budgetKey('::ffff:198.51.100.1'), budgetKey('::ffff:198.51.100.2'), 'IPv4 clients are not lumped into ::ffff:0:0/64');
  t.equal(budgetKey('fe80::1%eth0'), budgetKey('fe80::2'), 'a zone id is ignored');
  t.equal(budgetKey('198.51.100.1'), '198.51.100.1', 'IPv4 as is');
  t.equal(budgetKey('acc_123'), 'acc_123', 'not an address (an account id): as is');
  // The last IPv6 key is remembered (a connect asks three times): asked again, in any order, the same answers.
  const asked = ['2001:db8:1:2::1', '2001:db8:1:2::1', '::ffff:198.51.100.1', '198.51.100.2', '::ffff:198.51.100.1', 'fe80::1%eth0', 'not:an:address', '2001:db8:1:2::1'];
  t.same(asked.map(budgetKey), ['2001:db8:1:2::/64', '2001:db8:1:2::/64', '198.51.100.1', '198.51.100.2', '198.51.100.1', 'fe80:0:0:0::/64', 'not:an:address', '2001:db8:1:2::/64'], 'repeated and interleaved look-ups');
});

t.test('IpRateLimiter: a /64 shares one budget', async (t) => {
  const l = new IpRateLimiter(1, 2, 100);
  t.ok(l.take('2001:db8::1', 0) && l.take('2001:db8::2', 0), 'two addresses of one /64 take the burst');
  t.notOk(l.take('2001:db8::ffff:3', 0), 'a third address of that /64 is refused');
  t.ok(l.take('2001:db8:0:1::1', 0), 'the next /64 has its own budget');
});

t.test('IpRateLimiter: a full table evicts full buckets (LRU first), never one in deficit', async (t) => {
  const l = new IpRateLimiter(1, 2, 4);
  l.take('attacker', 0);
  l.take('attacker', 0); // locked out: 0 of 2
  for (const ip of ['a', 'b', 'c']) l.take(ip, 0);
  // At 1 s: a, b and c are full again; the attacker has 1 token of 2 (still in deficit).
  t.ok(l.take('d', 1000), 'a new address gets a bucket in a full table');
  t.equal(l.size, 4, 'the bound holds');
  t.ok(l.take('attacker', 1000), 'the attacker refilled one token…');
  t.notOk(l.take('attacker', 1000), '…and only one: its debt was not forgotten');

  // LRU among full buckets: fill a fresh table, touch the oldest, and see which one goes.
  const m = new IpRateLimiter(1, 1, 16);
  for (let i = 0; i < 16; i++) m.take(`k${i}`, 0);
  m.take('k0', 2000); // k0 used last (and again in deficit); k1..k15 full
  m.take('new', 2000); // one scan frees down to 15/16 of 16 = 15: the least recently used full bucket, k1
  t.notOk(m.take('k0', 2000), 'k0 still holds its debt');
  t.equal(m.size, 16, 'bounded');
  t.ok(m.allows('k2', 2000), 'k2 is still held (full)');
});

t.test('IpRateLimiter: every bucket in deficit: new keys are refused, old debts kept', async (t) => {
  const l = new IpRateLimiter(1, 2, 100);
  for (let i = 0; i < 100; i++) l.take(`ip${i}`, 0); // each at 1 of 2: in deficit
  l.take('ip0', 0); // ip0 at 0: locked out
  t.notOk(l.take('brand-new', 0), 'no room: a new address is refused rather than an old one forgotten');
  t.notOk(l.allows('brand-new', 500), 'still no room half a second later');
  t.equal(l.retryAfterSec('brand-new', 500), 1, 'with a Retry-After until the first bucket refills');
  t.equal(l.size, 100, 'memory stays bounded');
  t.notOk(l.take('ip0', 0), 'the locked-out address is still locked out');
  for (let i = 0; i < 10_000; i++) l.take(`flood${i}`, 10); // a flood of new keys changes nothing
  t.notOk(l.take('ip0', 10), 'after a flood of new addresses: still locked out');
  t.ok(l.take('brand-new', 1000), 'once buckets are full again, new addresses get room');
  t.ok(l.size <= 100, `bounded (${l.size})`);
});

t.test('IpConnections: a /64 shares the connection cap', async (t) => {
  const c = new IpConnections(2);
  t.ok(c.tryAcquire('2001:db8::1') && c.tryAcquire('2001:db8::2'), 'two sockets from one /64');
  t.notOk(c.tryAcquire('2001:db8::3'), 'a third from another address of that /64 is refused');
  c.release('2001:db8::1');
  t.ok(c.tryAcquire('2001:db8::4'), 'a release frees the /64 slot');
});

t.test('a real relay: two addresses of one /64 share the failed-authentication budget', async (t) => {
  const r = await startTestRelay({ TRUST_PROXY: '127.0.0.1', API_REQUESTS_PER_SEC: '100000', API_AUTH_FAILURES_PER_MIN: '3' });
  t.teardown(r.stop);
  const bad = `${r.token(r.acme, 'alice').slice(0, -6)}AAAAAA`;
  const statuses = [];
  for (let i = 1; i <= 3; i++) statuses.push((await restCall(r.port, '/api/v1/visitors', `2001:db8:5:6::${i}`, `Bearer ${bad}`)).status);
  t.same(statuses, [401, 401, 401], 'three failures from three addresses of one /64');
  const fourth = await restCall(r.port, '/api/v1/visitors', '2001:db8:5:6:abcd::9', `Bearer ${bad}`);
  t.same([fourth.status, fourth.code], [429, 'rate_limited'], 'a fourth address of that /64 finds the budget spent');
  t.equal((await agentUpgrade(r.port, bad, '2001:db8:5:6::77')).status, 429, 'and so does an agent upgrade from it');
  t.equal((await restCall(r.port, '/api/v1/visitors', '2001:db8:5:7::1', `Bearer ${bad}`)).status, 401, 'the next /64 has its own budget');
});
