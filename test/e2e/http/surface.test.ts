/** The relay's HTTP surface on a real relay (real uWS, real SQLite) on a loopback port. */
import fs from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import t from 'tap';
import { AGENT_AUDIENCE, RELAY_ISSUER } from '../../../protocol/index.ts';
import { PUBLIC_DIR } from '../../../relay/server.ts';
import { connectAgent, connectVisitor, refused, sleep } from '../../helpers/clients.ts';
import { SITE_ORIGIN, startTestRelay, TEST_METRICS_TOKEN, type TestRelay } from '../../helpers/relay.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

let r: TestRelay;
let base: string;

t.before(async () => {
  r = await startTestRelay();
  base = `http://127.0.0.1:${r.port}`;
});
t.teardown(() => r?.stop());

const get = (p: string, init: RequestInit = {}) => fetch(base + p, { signal: AbortSignal.timeout(10_000), ...init });

async function expectJsonError(t: Test, res: Response, status: number, code: string, what: string) {
  t.equal(res.status, status, `${what}: HTTP ${status}`);
  t.match(res.headers.get('content-type'), /^application\/json/, `${what}: JSON`);
  t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  const body = await res.json();
  t.same(Object.keys(body), ['error'], `${what}: only an error member`);
  t.equal(body.error?.code, code, `${what}: code ${code}`);
  t.type(body.error?.message, 'string', `${what}: a message`);
  t.ok(body.error?.message.length > 0, `${what}: a non-empty message`);
  return body;
}

function mint(secretKey: string | undefined, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}/api/v1/agent-tokens`, {
    method: 'POST',
    signal: AbortSignal.timeout(10_000),
    headers: {
      ...(secretKey === undefined ? {} : { authorization: `Bearer ${secretKey}` }),
      'content-type': 'application/json',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

t.test('health, readiness, metrics', async (t) => {
  const h = await get('/healthz');
  t.equal(h.status, 200);
  t.match(h.headers.get('content-type'), /^application\/json/);
  const hb = await h.json();
  t.equal(hb.status, 'ok');
  t.equal(hb.uwsNative, true, 'the native uWebSockets.js binary is loaded (not the JS fallback)');

  const ready = await get('/readyz');
  t.equal(ready.status, 200);
  t.same(await ready.json(), { status: 'ready', store: 'sqlite' });

  const m = await get('/metrics', { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } });
  t.equal(m.status, 200);
  t.match(m.headers.get('content-type'), /^text\/plain; version=0\.0\.4/, 'Prometheus text content type');
  const text = await m.text();
  t.match(text, /^# TYPE cobrowse_visitor_sockets gauge$/m);
  t.match(text, /^cobrowse_visitor_sockets 0$/m, 'no visitors yet');
  t.match(text, /^cobrowse_uws_native 1$/m);
  t.match(text, /^# TYPE cobrowse_http_requests_total counter$/m);
  const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
  t.ok(samples.length > 10, 'many samples');
  t.ok(samples.every((l) => /^cobrowse_[a-z_]+ -?\d+(\.\d+)?(e[+-]?\d+)?$/.test(l)), 'every sample line is `name value`');
  for (const l of samples) {
    const name = l.split(' ')[0];
    t.ok(text.includes(`# TYPE ${name} `), `${name} has a TYPE line`);
  }

  const { sock } = await connectVisitor(r.port, r.acme.publicKey);
  const m2 = await r.metricsText();
  t.match(m2, /^cobrowse_visitor_sockets 1$/m, 'the gauge counts a connected visitor');
  sock.close();
  await sock.closed;
});

t.test('unknown routes: 404 with a JSON error', async (t) => {
  await expectJsonError(t, await get('/nope'), 404, 'not_found', 'GET /nope');
  await expectJsonError(t, await get('/api/v1/nope'), 404, 'not_found', 'GET /api/v1/nope');
  await expectJsonError(t, await get('/nope', { method: 'POST', body: 'x' }), 404, 'not_found', 'POST /nope');
  await expectJsonError(t, await get('/embed.js', { method: 'DELETE' }), 404, 'not_found', 'DELETE /embed.js');
});

t.test('a known API route with the wrong method: 405 with Allow and a JSON error', async (t) => {
  for (const [method, path, allow] of [
    ['GET', '/api/v1/agent-tokens', 'POST'],
    ['PUT', '/api/v1/visitors', 'GET'],
    ['POST', '/api/v1/visitors/v_1', 'GET, DELETE'],
    ['DELETE', '/api/v1/activity', 'GET'],
    ['GET', '/api/v1/activity/purge', 'POST'],
    ['PATCH', '/api/v1/visitors/delete', 'POST, GET, DELETE'],
    ['GET', '/api/v1/account/rotate-secret', 'POST'],
  ] as const) {
    const res = await get(path, { method });
    await expectJsonError(t, res, 405, 'method_not_allowed', `${method} ${path}`);
    // Derived from the registrations, so compared as a set (its order is registration order).
    const methods = (h: string | null) => (h ?? '').split(',').map((m) => m.trim()).sort();
    t.same(methods(res.headers.get('allow')), methods(allow), `${method} ${path}: Allow: ${allow}`);
  }
});

t.test('POST /api/v1/agent-tokens: authentication', async (t) => {
  const body = { agentId: 'alice', name: 'Alice' };
  const noAuth = await mint(undefined, body);
  await expectJsonError(t, noAuth, 401, 'unauthorized', 'no Authorization');
  t.equal(noAuth.headers.get('www-authenticate'), 'Bearer', 'WWW-Authenticate: Bearer');
  const wrongs: Array<[string, Record<string, string>]> = [
    ['wrong secret', { authorization: `Bearer ${r.acme.secretKey.slice(0, -3)}xyz` }],
    ['another account id with this secret', { authorization: `Bearer sk_${r.other.accountId}.${r.acme.secretKey.split('.')[1]}` }],
    ['the public key', { authorization: `Bearer ${r.acme.publicKey}` }],
    ['garbage', { authorization: 'Bearer not-a-key' }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['Basic scheme', { authorization: `Basic ${Buffer.from(`x:${r.acme.secretKey}`).toString('base64')}` }],
    ['bare secret, no scheme', { authorization: r.acme.secretKey }],
    ['two tokens', { authorization: `Bearer ${r.acme.secretKey} ${r.acme.secretKey}` }],
  ];
  for (const [what, headers] of wrongs) {
    await expectJsonError(t, await mint(undefined, body, headers), 401, 'unauthorized', what);
  }
  // Unauthenticated requests learn nothing about the body: still 401, not 413/415.
  await expectJsonError(t, await mint(undefined, 'x'.repeat(10_000)), 401, 'unauthorized', 'no auth, big body');
  await expectJsonError(t, await mint(undefined, '{}', { 'content-type': 'text/plain' }), 401, 'unauthorized', 'no auth, wrong type');
  const lower = await mint(undefined, body, { authorization: `bearer ${r.acme.secretKey}` });
  t.equal(lower.status, 201, 'the auth scheme is case-insensitive');
  await lower.arrayBuffer();
});

t.test('POST /api/v1/agent-tokens: request validation', async (t) => {
  const sk = r.acme.secretKey;
  await expectJsonError(t, await mint(sk, { agentId: 'a', name: 'A' }, { 'content-type': 'text/plain' }), 415, 'unsupported_media_type', 'text/plain');
  await expectJsonError(t, await mint(sk, { agentId: 'a', name: 'A' }, { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type', 'form');
  await expectJsonError(t, await mint(sk, { agentId: 'a', name: 'A' }, { 'content-type': 'application/jsonp' }), 415, 'unsupported_media_type', 'application/jsonp');
  await expectJsonError(t, await mint(sk, '{"agentId": "a",'), 400, 'bad_request', 'truncated JSON');
  await expectJsonError(t, await mint(sk, ''), 400, 'bad_request', 'empty body');
  await expectJsonError(t, await mint(sk, 'agentId=a'), 400, 'bad_request', 'not JSON');
  const invalid: Array<[string, unknown]> = [
    ['bad agentId', { agentId: 'not an id!', name: 'A' }],
    ['agentId too long', { agentId: 'a'.repeat(65), name: 'A' }],
    ['agentId not a string', { agentId: 7, name: 'A' }],
    ['missing agentId', { name: 'A' }],
    ['missing name', { agentId: 'a' }],
    ['empty name', { agentId: 'a', name: '' }],
    ['name too long', { agentId: 'a', name: 'n'.repeat(101) }],
    ['extra field', { agentId: 'a', name: 'A', accountId: r.other.accountId }],
    ['array', [{ agentId: 'a', name: 'A' }]],
    ['null', null],
    ['string', 'alice'],
  ];
  for (const [what, b] of invalid) {
    const res = await expectJsonError(t, await mint(sk, JSON.stringify(b)), 400, 'bad_request', what);
    t.notOk(JSON.stringify(res).includes('token'), `${what}: no token in the answer`);
  }
  await expectJsonError(t, await mint(sk, { agentId: 'a', name: 'n'.repeat(4200) }), 413, 'too_big', 'body > 4 KiB');
  await expectJsonError(t, await mint(sk, { agentId: 'a', name: 'n'.repeat(2_000_000) }), 413, 'too_big', 'body of 2 MB');
  const padded = JSON.stringify({ agentId: 'a', name: 'A' }).padEnd(4096, ' ');
  t.equal(Buffer.byteLength(padded), 4096);
  const atLimit = await mint(sk, padded);
  t.equal(atLimit.status, 201, 'a body of exactly 4096 bytes is accepted');
  await atLimit.arrayBuffer();
  const health = await get('/healthz');
  t.equal(health.status, 200, 'the relay is still serving afterwards');
  await health.arrayBuffer();
});

t.test('POST /api/v1/agent-tokens: a minted token opens an agent socket', async (t) => {
  const before = Date.now();
  const res = await mint(r.acme.secretKey, { agentId: 'alice', name: 'Alice Agent' }, { 'content-type': 'application/json; charset=utf-8' });
  t.equal(res.status, 201);
  t.equal(res.headers.get('cache-control'), 'no-store', 'tokens are not cached');
  const body = await res.json();
  t.same(Object.keys(body).sort(), ['expiresAt', 'token']);
  t.type(body.token, 'string');
  const exp = Date.parse(body.expiresAt);
  t.equal(new Date(exp).toISOString(), body.expiresAt, 'expiresAt is an ISO timestamp');
  const ttlMs = r.relay.ctx.config.agentTokenTtlSec * 1000;
  t.ok(exp >= before + ttlMs - 2000 && exp <= Date.now() + ttlMs + 2000, 'expiresAt = now + configured TTL');
  const claims = jwt.decode(body.token, { complete: true }) as jwt.Jwt & { payload: jwt.JwtPayload };
  t.equal(claims.header.alg, 'HS256');
  t.equal(claims.payload.iss, RELAY_ISSUER);
  t.equal(claims.payload.aud, AGENT_AUDIENCE);
  t.equal(claims.payload.sub, 'alice');
  t.equal(claims.payload.acc, r.acme.accountId, 'bound to the account whose secret was used');
  t.ok(Math.abs(claims.payload.exp! * 1000 - exp) < 1500, 'exp claim matches expiresAt');
  t.notOk(body.token.includes(r.acme.secretKey.split('.')[1]), 'the secret is not in the token');

  const agent = await connectAgent(r.port, body.token);
  t.teardown(() => agent.close());
  const ready = agent.texts.find((m) => m.t === 'ready');
  t.same(ready, { t: 'ready', agentId: 'alice', accountId: r.acme.accountId, pageOrigins: [SITE_ORIGIN, 'http://relay.test'] }, 'ready for the right agent and account, with its page origins (the viewer\'s replay CSP)');

  const tampered = body.token.slice(0, -2) + (body.token.endsWith('AA') ? 'BB' : 'AA');
  const bad = await refused(connectAgent(r.port, tampered));
  t.equal(bad.status, 401, 'a tampered token is refused at upgrade');
  t.equal(bad.body?.error?.code, 'invalid_token');
});

t.test("a token minted with account A's secret can not join account B's visitor", async (t) => {
  const mintFor = async (sk: string, agentId: string) => {
    const res = await mint(sk, { agentId, name: agentId });
    t.equal(res.status, 201, `minted for ${agentId}`);
    return (await res.json()).token as string;
  };
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.open.publicKey); // consent off
  t.teardown(() => visitor.close());

  // Positive control: the visitor's own account joins.
  const own = await connectAgent(r.port, await mintFor(r.open.secretKey, 'insider'));
  t.teardown(() => own.close());
  own.send({ t: 'join', visitorId: welcome.visitorId });
  const joined = await own.next('joined');
  t.equal(joined.visitorId, welcome.visitorId, 'an agent of the same account joins');

  for (const [label, sk] of [['other', r.other.secretKey], ['acme', r.acme.secretKey]] as const) {
    const foreign = await connectAgent(r.port, await mintFor(sk, `eve-${label}`));
    t.teardown(() => foreign.close());
    foreign.send({ t: 'join', visitorId: welcome.visitorId });
    const refusal = await foreign.next('refused');
    t.equal(refusal.reason, 'not_found', `an agent of ${label} is refused with not_found`);
    t.equal(refusal.visitorId, welcome.visitorId);
    t.notOk(foreign.has('joined'), `${label}: never joined`);
    // With the tab id too: still nothing.
    foreign.send({ t: 'join', visitorId: welcome.visitorId, tabId: welcome.tabId });
    await foreign.until(() => foreign.texts.filter((m) => m.t === 'refused').length === 2, 5000, 'second refusal');
  }
  await sleep(200);
  t.same(visitor.texts.map((m) => m.t), ['welcome', 'agent-joined', 'snapshot-request'], 'the visitor heard only of the insider (who joined, one snapshot request), nothing of foreign agents');
  t.equal(visitor.texts[1].agent.id, 'insider', 'the agent it heard of is the insider');
});

t.test('static files: the embed script with ETag and 304', async (t) => {
  const file = path.join(PUBLIC_DIR, 'embed.js');
  t.ok(fs.existsSync(file), 'dist/public/embed.js exists (run `npx tsx scripts/build.ts` first)');
  const res = await get('/embed.js');
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/javascript/);
  t.equal(res.headers.get('x-content-type-options'), 'nosniff');
  t.match(res.headers.get('cache-control'), /max-age=\d+/);
  const etag = res.headers.get('etag');
  t.match(etag, /^"[A-Za-z0-9_-]+"$/, 'a strong ETag');
  const bytes = Buffer.from(await res.arrayBuffer());
  t.ok(bytes.length > 0, 'non-empty');
  if (fs.existsSync(file)) t.ok(bytes.equals(fs.readFileSync(file)), 'the built file, byte for byte');

  const again = await get('/embed.js');
  t.equal(again.headers.get('etag'), etag, 'the ETag is stable');
  await again.arrayBuffer();

  const notModified = await get('/embed.js', { headers: { 'if-none-match': etag! } });
  t.equal(notModified.status, 304, 'If-None-Match with the current ETag: 304');
  t.equal(notModified.headers.get('etag'), etag);
  t.equal((await notModified.arrayBuffer()).byteLength, 0, '304 has no body');

  // What browsers and proxies also send: a list, a weak tag (e.g. after a proxy's gzip), `*`.
  for (const inm of [`"old", ${etag}`, `W/${etag}`, '*']) {
    const r = await get('/embed.js', { headers: { 'if-none-match': inm } });
    t.equal(r.status, 304, `If-None-Match: ${inm} → 304`);
    await r.arrayBuffer();
  }
  const stale = await get('/embed.js', { headers: { 'if-none-match': '"something-else", W/"other"' } });
  t.equal(stale.status, 200, 'another ETag: 200 with the body');
  t.equal(Buffer.from(await stale.arrayBuffer()).length, bytes.length);

  const viewer = await get('/agent/');
  t.equal(viewer.status, 200, 'the agent viewer is served at /agent/');
  t.match(viewer.headers.get('content-type'), /^text\/html/);
  t.equal(viewer.headers.get('x-frame-options'), 'DENY');
  const csp = viewer.headers.get('content-security-policy') ?? '';
  t.match(csp, /script-src 'self'(;|$)/, 'the viewer page is served with its CSP as a header: scripts only from the relay');
  t.match(csp, /frame-ancestors 'none'$/, "and frame-ancestors 'none' (a <meta> CSP cannot set it)");
  t.notMatch(csp, /script-src[^;]*unsafe/, 'no unsafe script sources');
  t.match(await viewer.text(), csp.replace(/; frame-ancestors 'none'$/, ''), "the header is the page's own policy");
  const deletePage = await get('/delete/');
  t.match(deletePage.headers.get('content-security-policy'), /frame-ancestors 'none'$/, 'the delete page too');
  await deletePage.arrayBuffer();

  await expectJsonError(t, await get('/embed.js.map.nope'), 404, 'not_found', 'unknown static path');
  await expectJsonError(t, await get('/../package.json'), 404, 'not_found', 'path traversal');
  await expectJsonError(t, await get('/%2e%2e/package.json'), 404, 'not_found', 'encoded path traversal');
});

t.test('GET /v1/visitor/check: why a visitor upgrade would be refused, readable cross-origin', async (t) => {
  const check = (query: string, origin = SITE_ORIGIN) => get(`/v1/visitor/check?${query}`, { headers: { origin } });
  const ok = await check(`key=${r.acme.publicKey}`);
  t.equal(ok.status, 204, 'an acceptable visitor: 204');
  t.equal(ok.headers.get('access-control-allow-origin'), '*', 'readable by the embed on any page');

  const cases: Array<[string, string, number, string]> = [
    ['', SITE_ORIGIN, 400, 'missing_key'],
    ['key=pk_nope', SITE_ORIGIN, 401, 'unknown_key'],
    [`key=${r.acme.publicKey}`, 'https://evil.example', 403, 'forbidden_origin'],
    [`key=${r.acme.publicKey}&vid=v_1234567890&vt=forged`, SITE_ORIGIN, 401, 'visitor_token_invalid'],
  ];
  for (const [query, origin, status, code] of cases) {
    const res = await check(query, origin);
    t.equal(res.headers.get('access-control-allow-origin'), '*', `${code}: readable cross-origin`);
    await expectJsonError(t, res, status, code, `check ${code}`);
    // The socket itself is refused the same way.
    const q = Object.fromEntries(new URLSearchParams(query));
    const upgrade = await refused(connectVisitor(r.port, q.key ?? '', { origin, query: q }));
    t.equal(upgrade.status, status, `${code}: the upgrade gets the same status`);
  }

  const { sock, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  const again = await check(`key=${r.acme.publicKey}&vid=${welcome.visitorId}&vt=${welcome.visitorToken}`);
  t.equal(again.status, 204, 'a genuine visitor id and token pass');
  sock.close();
});
