/**
 * What the relay shows to anyone who asks: /metrics only with METRICS_TOKEN, /v1/visitor/check
 * limited per address, and `nosniff` on every JSON response (answers, errors, refused upgrades).
 */
import t from 'tap';
import { agentUpgrade, restCall } from '../../helpers/authProbe.ts';
import { startTestRelay, TEST_METRICS_TOKEN } from '../../helpers/relay.ts';

t.test('/metrics: off without METRICS_TOKEN, 401 without the right bearer, Prometheus text with it', async (t) => {
  const r = await startTestRelay({ TRUST_PROXY: '127.0.0.1', API_AUTH_FAILURES_PER_MIN: '3' });
  t.teardown(r.stop);
  const anon = await restCall(r.port, '/metrics', '198.51.100.1');
  t.same([anon.status, anon.code], [401, 'unauthorized'], 'no token: 401 JSON');
  const wrong = await restCall(r.port, '/metrics', '198.51.100.1', `Bearer ${TEST_METRICS_TOKEN.slice(0, -1)}x`);
  t.same([wrong.status, wrong.code], [401, 'unauthorized'], 'a near miss: 401');
  const prefix = await restCall(r.port, '/metrics', '198.51.100.1', `Bearer ${TEST_METRICS_TOKEN}x`);
  t.equal(prefix.status, 401, 'the token plus a character: 401');
  const locked = await restCall(r.port, '/metrics', '198.51.100.1', `Bearer ${TEST_METRICS_TOKEN}y`);
  t.same([locked.status, locked.code], [429, 'rate_limited'], 'guessing spends the failed-authentication budget: then 429 for a wrong token');
  // The token is cheap to check, so it is checked first: guesses from the operator's address cannot lock the operator out.
  const right = await restCall(r.port, '/metrics', '198.51.100.1', `Bearer ${TEST_METRICS_TOKEN}`);
  t.equal(right.status, 200, 'the right token from the same address still works');
  const res = await fetch(`http://127.0.0.1:${r.port}/metrics`, { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}`, 'x-forwarded-for': '203.0.113.2' } });
  t.equal(res.status, 200, 'the right token from elsewhere: 200');
  t.match(await res.text(), /^cobrowse_scrypt_runs_total \d+$/m, 'with the scrypt counter');
  t.equal(res.headers.get('x-content-type-options'), 'nosniff');

  const off = await startTestRelay({ METRICS_TOKEN: '' });
  t.teardown(off.stop);
  const none = await restCall(off.port, '/metrics', '127.0.0.1', `Bearer ${TEST_METRICS_TOKEN}`);
  t.same([none.status, none.code], [404, 'not_found'], 'without METRICS_TOKEN /metrics is off');

  const { loadConfig, ConfigError } = await import('../../../relay/config.ts');
  t.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), ConfigError, 'a short METRICS_TOKEN stops the relay at start-up');
  t.throws(() => loadConfig({ METRICS_TOKEN: `${'x'.repeat(32)} y` }), ConfigError, 'so does one with a space');
});

t.test('/v1/visitor/check: limited per address with a 429 JSON readable cross-origin', async (t) => {
  const r = await startTestRelay({ TRUST_PROXY: '127.0.0.1', VISITOR_CHECKS_PER_SEC: '2' });
  t.teardown(r.stop);
  const path = `/v1/visitor/check?key=${r.acme.publicKey}`;
  const init = { headers: { origin: 'https://shop.example.com' } };
  const out = await Promise.all(Array.from({ length: 10 }, () => restCall(r.port, path, '198.51.100.3', undefined, init)));
  const statuses = out.map((o) => o.status).sort();
  t.same(statuses, [204, 204, 204, 204, 429, 429, 429, 429, 429, 429], `the burst (2 s worth) is answered, the rest 429: ${statuses.join(' ')}`);
  const limited = out.find((o) => o.status === 429)!;
  t.equal(limited.code, 'rate_limited');
  t.ok(Number(limited.retryAfter) >= 1, 'with Retry-After');
  const res = await fetch(`http://127.0.0.1:${r.port}${path}`, { headers: { 'x-forwarded-for': '198.51.100.3' } });
  t.equal(res.headers.get('access-control-allow-origin'), '*', 'the embed can read why');
  t.equal((await restCall(r.port, path, '203.0.113.4', undefined, init)).status, 204, 'another address is answered');
});

t.test('nosniff on every JSON response', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const base = `http://127.0.0.1:${r.port}`;
  const auth = { authorization: `Bearer ${r.acme.secretKey}` };
  const responses: Array<[string, Response]> = [
    ['GET /healthz', await fetch(`${base}/healthz`)],
    ['GET /readyz', await fetch(`${base}/readyz`)],
    ['GET /api/v1/visitors', await fetch(`${base}/api/v1/visitors`, { headers: auth })],
    ['401', await fetch(`${base}/api/v1/visitors`)],
    ['404', await fetch(`${base}/nope`)],
    ['405', await fetch(`${base}/api/v1/visitors`, { method: 'PUT' })],
    ['204 check', await fetch(`${base}/v1/visitor/check?key=${r.acme.publicKey}`, { headers: { origin: 'https://shop.example.com' } })],
  ];
  for (const [what, res] of responses) t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what} (${res.status})`);
  const up = await agentUpgrade(r.port, 'not-a-jwt', '127.0.0.1');
  t.same([up.status, up.nosniff], [401, 'nosniff'], 'a refused upgrade too');
});
