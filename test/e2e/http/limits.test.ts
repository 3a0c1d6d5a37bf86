/**
 * REST API rate limits per client address, on the real relay over loopback. Client addresses are
 * simulated with X-Forwarded-For from a trusted proxy (TRUST_PROXY=127.0.0.1), as behind a load
 * balancer; everything else is real.
 */
import t from 'tap';
import { connectAgent, connectVisitor, frame } from '../../helpers/clients.ts';
import { startTestRelay } from '../../helpers/relay.ts';

async function call(port: number, path: string, from: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { 'x-forwarded-for': from, ...init.headers } });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), type: res.headers.get('content-type'), body };
}

t.test('failed authentications: locked out per address, before the key is checked; others unaffected', async (t) => {
  const r = await startTestRelay({ TRUST_PROXY: '127.0.0.1', API_AUTH_FAILURES_PER_MIN: '3' });
  t.teardown(r.stop);
  const attacker = '198.51.100.7';
  const admin = '203.0.113.9';
  const bad = `Bearer ${r.acme.secretKey.slice(0, -4)}xxxx`; // the right account, a wrong secret: a scrypt run each
  for (let i = 1; i <= 3; i++) {
    const res = await call(r.port, '/api/v1/visitors', attacker, { headers: { authorization: bad } });
    t.equal(res.status, 401, `failure ${i}: 401`);
  }
  const before = r.relay.ctx.metrics.counters.http_auth_failures_total;
  const locked = await call(r.port, '/api/v1/visitors', attacker, { headers: { authorization: bad } });
  t.equal(locked.status, 429, 'the 4th attempt: 429');
  t.match(locked.type, /^application\/json/);
  t.equal(locked.body?.error?.code, 'rate_limited', 'with the error code');
  t.match(locked.body?.error?.message, /failed authentications/, 'and a message');
  t.ok(Number(locked.retryAfter) >= 1, `Retry-After: ${locked.retryAfter}`);
  t.equal(r.relay.ctx.metrics.counters.http_auth_failures_total, before, 'the key was not even checked');
  // The right key from the locked-out address waits too (a guess cannot be confirmed there).
  const rightKeyThere = await call(r.port, '/api/v1/visitors', attacker, { headers: { authorization: `Bearer ${r.acme.secretKey}` } });
  t.equal(rightKeyThere.status, 429, 'even the right key, from that address');
  // Minting agent tokens shares the limit.
  const mint = await call(r.port, '/api/v1/agent-tokens', attacker, {
    method: 'POST', headers: { authorization: bad, 'content-type': 'application/json' }, body: JSON.stringify({ agentId: 'a', name: 'A' }),
  });
  t.equal(mint.status, 429, 'agent-token minting is locked out too');

  // Another address is not affected.
  const ok = await call(r.port, '/api/v1/visitors', admin, { headers: { authorization: `Bearer ${r.acme.secretKey}` } });
  t.equal(ok.status, 200, 'the admin elsewhere gets 200');
  const agentOk = await call(r.port, '/api/v1/visitors', admin, { headers: { authorization: `Bearer ${r.token(r.acme, 'alice')}` } });
  t.equal(agentOk.status, 200, 'and an agent elsewhere too');
  t.equal(r.relay.ctx.metrics.counters.rate_limited_total >= 3, true, 'refusals are counted');
});

t.test('request rate per address: bursts are refused with 429, other addresses, static files and sockets are not', async (t) => {
  // 1 request/s, burst 2: slow enough that nothing refills while the test runs its checks.
  const r = await startTestRelay({ TRUST_PROXY: '127.0.0.1', API_REQUESTS_PER_SEC: '1' });
  t.teardown(r.stop);
  const busy = '198.51.100.20';
  const calm = '203.0.113.30';
  const auth = { authorization: `Bearer ${r.token(r.acme, 'alice')}` };
  // A live session must not notice anything.
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.open.publicKey);
  const agent = await connectAgent(r.port, r.token(r.open, 'alice'));
  agent.send({ t: 'join', visitorId: welcome.visitorId });
  await agent.next('joined');

  // 6 at once: the limit is applied on arrival, before authentication, so they are judged together.
  const statuses = (await Promise.all(Array.from({ length: 6 }, () => call(r.port, '/api/v1/visitors', busy, { headers: auth })))).map((x) => x.status);
  t.same([...statuses].sort(), [200, 200, 429, 429, 429, 429], `the burst (2 s worth) is served, the rest get 429: ${statuses.join(' ')}`);
  const refused = await call(r.port, '/api/v1/visitors', busy, { headers: auth });
  t.equal(refused.status, 429);
  t.equal(refused.body?.error?.code, 'rate_limited');
  t.ok(Number(refused.retryAfter) >= 1, 'with Retry-After');
  const unauth = await call(r.port, '/api/v1/visitors', busy);
  t.equal(unauth.status, 429, 'counted before authentication');

  t.equal((await call(r.port, '/api/v1/visitors', calm, { headers: auth })).status, 200, 'another address is served');
  t.equal((await call(r.port, '/embed.js', busy)).status, 200, 'static files are not API calls: embed.js is served');
  t.equal((await call(r.port, '/healthz', busy)).status, 200, 'nor is /healthz limited');

  visitor.sendFrame(frame(1, 1, 1000));
  await agent.until(() => agent.frames.length === 1, 5000, 'a frame');
  t.pass('relaying went on');

  await new Promise((res) => setTimeout(res, 1100));
  t.equal((await call(r.port, '/api/v1/visitors', busy, { headers: auth })).status, 200, 'after a second the address is served again');
});

t.test('the limits are configuration, validated at start-up', async (t) => {
  const { loadConfig, ConfigError } = await import('../../../relay/config.ts');
  const cfg = loadConfig({});
  t.equal(cfg.apiRequestsPerSec, 100, 'default 100 requests/s per address');
  t.equal(cfg.apiAuthFailuresPerMin, 20, 'default 20 failures/min per address');
  for (const [name, value] of [['API_REQUESTS_PER_SEC', '0'], ['API_REQUESTS_PER_SEC', 'lots'], ['API_AUTH_FAILURES_PER_MIN', '-1']]) {
    t.throws(() => loadConfig({ [name]: value }), ConfigError, `${name}=${value} refused`);
  }
});

t.test('IpRateLimiter: per address, refills, and its memory is bounded', async (t) => {
  const { IpRateLimiter } = await import('../../../relay/limits/ipRateLimiter.ts');
  const l = new IpRateLimiter(1, 2, 100);
  t.ok(l.take('a', 0) && l.take('a', 0), 'the burst');
  t.notOk(l.take('a', 0), 'then refused');
  t.notOk(l.allows('a', 500), 'half a token is not a token');
  t.equal(l.retryAfterSec('a', 500), 1, 'Retry-After in whole seconds');
  t.ok(l.allows('a', 1000) && l.take('a', 1000), 'refilled after a second');
  t.ok(l.take('b', 0), 'another address has its own bucket');
  for (let i = 0; i < 1000; i++) l.take(`ip${i}`, 0);
  t.ok(l.size <= 100, `at most maxIps buckets are held (${l.size})`);
  // Every held bucket is in deficit: a new address is refused rather than an old debt forgotten (it used to clear them all).
  t.notOk(l.allows('brand-new', 0), 'an address never seen waits while every held bucket is in deficit');
  t.ok(l.allows('brand-new', 2000), 'and is allowed once buckets have refilled');
});
