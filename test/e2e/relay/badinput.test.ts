/**
 * Bad input: each case answered with its documented status or close code, while a second
 * session keeps streaming through the same relay untouched.
 */
import jwt from 'jsonwebtoken';
import t from 'tap';
import { AGENT_AUDIENCE, RELAY_ISSUER } from '../../../protocol/index.ts';
import { relayJwtKey } from '../../../relay/auth/agentToken.ts';
import { connectAgent, connectVisitor, frame, refused, sleep, type TestSocket } from '../../helpers/clients.ts';
import { OTHER_ORIGIN, startTestRelay } from '../../helpers/relay.ts';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

t.test('bad input never disturbs another session', async (t) => {
  const r = await startTestRelay({ MAX_PAYLOAD_BYTES: String(256 * 1024), MAX_CONNECTIONS_PER_IP: '30' });
  t.teardown(r.stop);

  // The bystander session: streams a numbered frame every 10 ms for the whole test.
  const { sock: bv, welcome: bw } = await connectVisitor(r.port, r.open.publicKey);
  const ba = await connectAgent(r.port, r.token(r.open, 'bystander'));
  ba.send({ t: 'join', visitorId: bw.visitorId });
  await ba.next('joined');
  let seq = 0;
  const streaming = setInterval(() => bv.sendFrame(frame(2, seq++, 200)), 10);

  const closedWith = async (s: TestSocket, code: number, reason: string, errorCode = reason) => {
    const c = await s.closed;
    t.equal(c.code, code, `close code ${code}`);
    t.equal(c.reason, reason, `close reason ${reason}`);
    if (errorCode) t.ok(s.texts.some((m) => m.t === 'error' && m.code === errorCode && typeof m.message === 'string'), `error message ${errorCode} sent before the close`);
  };

  await t.test('visitor upgrades', async (t) => {
    let res = await refused(connectVisitor(r.port, 'pk_doesnotexist'));
    t.equal(res.status, 401);
    t.equal(res.body.error.code, 'unknown_key');
    res = await refused(connectVisitor(r.port, ''));
    t.equal(res.status, 400);
    t.equal(res.body.error.code, 'missing_key');
    res = await refused(connectVisitor(r.port, r.acme.publicKey, { origin: OTHER_ORIGIN }));
    t.equal(res.status, 403);
    t.equal(res.body.error.code, 'forbidden_origin');
    res = await refused(connectVisitor(r.port, r.acme.publicKey, { origin: 'https://shop.example.com.evil.net' }));
    t.equal(res.status, 403, 'suffix tricks do not pass the origin check');
    res = await refused(connectVisitor(r.port, r.acme.publicKey, { query: { vid: bw.visitorId, vt: 'forged' } }));
    t.equal(res.status, 401, 'cannot claim another visitor id');
    t.equal(res.body.error.code, 'visitor_token_invalid');
    res = await refused(connectVisitor(r.port, r.acme.publicKey, { query: { vid: bw.visitorId, vt: bw.visitorToken } }));
    t.equal(res.status, 401, 'a visitor token is bound to its account');
  });

  await t.test('agent upgrades', async (t) => {
    const good = r.token(r.acme, 'alice');
    const cases: Array<[string, Promise<unknown>, number, string]> = [
      ['no token', connectAgent(r.port, '', { protocols: ['cobrowse.v1'] }), 401, 'unauthorized'],
      ['no subprotocol', connectAgent(r.port, '', { protocols: [] }), 401, 'unauthorized'],
      ['expired', connectAgent(r.port, jwt.sign({ acc: r.acme.accountId, name: 'x', exp: Math.floor(Date.now() / 1000) - 60 }, relayJwtKey(r.relay.ctx.relaySecret), { algorithm: 'HS256', subject: 'alice', issuer: RELAY_ISSUER, audience: AGENT_AUDIENCE })), 401, 'token_expired'],
      ['alg none', connectAgent(r.port, `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', acc: r.acme.accountId, iss: RELAY_ISSUER, aud: AGENT_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })}.`), 401, 'invalid_token'],
      ['wrong secret', connectAgent(r.port, jwt.sign({ acc: r.acme.accountId }, 'not-the-relay-key-not-the-relay-key', { algorithm: 'HS256', subject: 'alice', issuer: RELAY_ISSUER, audience: AGENT_AUDIENCE, expiresIn: 600 })), 401, 'invalid_token'],
      ['garbage', connectAgent(r.port, 'not.a.jwt'), 401, 'invalid_token'],
      ['token in URL', connectAgent(r.port, good, { path: `/v1/agent?token=${good}` }), 400, 'token_in_url'],
      ['access_token in URL', connectAgent(r.port, good, { path: `/v1/agent?access_token=${good}`, protocols: ['cobrowse.v1'] }), 400, 'token_in_url'],
      ['foreign origin', connectAgent(r.port, good, { origin: 'https://evil.example' }), 403, 'forbidden_origin'],
    ];
    for (const [name, p, status, code] of cases) {
      const res = await refused(p);
      t.equal(res.status, status, `${name}: status ${status}`);
      t.equal(res.body?.error?.code, code, `${name}: code ${code}`);
    }
    const ok = await connectAgent(r.port, good, { origin: 'http://relay.test' });
    t.ok(ok, 'the relay\'s own origin may open agent sockets');
    ok.close();
  });

  await t.test('visitor messages', async (t) => {
    const open = async () => (await connectVisitor(r.port, r.acme.publicKey)).sock;
    let v = await open();
    v.sendFrame(Buffer.alloc(256 * 1024 + 10, 2)); // just above MAX_PAYLOAD_BYTES (256 KiB)
    await closedWith(v, 4009, 'too_big');

    v = await open();
    v.sendFrame(Buffer.alloc(2 * 1024 * 1024, 2)); // far above: cut off by the socket layer, never buffered
    t.equal((await v.closed).code, 1006, 'a wildly oversized frame is cut off (1006)');

    v = await open();
    v.send(JSON.stringify({ t: 'page', url: 'x'.repeat(10_000), title: '' }));
    await closedWith(v, 4009, 'too_big');

    v = await open();
    v.send({ t: 'launch-missiles' });
    await closedWith(v, 4000, 'bad_message');

    v = await open();
    v.send('{"t": "page", url: oops');
    await closedWith(v, 4000, 'bad_message');

    v = await open();
    v.send({ t: 'page', url: 'https://x', title: 't', extra: 1 });
    await closedWith(v, 4000, 'bad_message');

    v = await open();
    v.sendFrame(Buffer.from([99, 1, 2, 3]));
    await closedWith(v, 4000, 'bad_message');

    v = await open();
    for (let i = 0; i < 2000; i++) v.send({ t: 'page', url: 'https://shop.example.com/', title: String(i) });
    await closedWith(v, 4029, 'rate_limited');
  });

  await t.test('agent messages', async () => {
    let a = await connectAgent(r.port, r.token(r.acme, 'alice'));
    a.send({ t: 'join' });
    await closedWith(a, 4000, 'bad_message');
    a = await connectAgent(r.port, r.token(r.acme, 'alice'));
    a.sendFrame(Buffer.from([1, 2, 3]));
    await closedWith(a, 4000, 'bad_message');
    a = await connectAgent(r.port, r.token(r.acme, 'alice'));
    a.send({ t: 'input', nodeId: 1, value: 'y'.repeat(9000) });
    await closedWith(a, 4009, 'too_big');
    a = await connectAgent(r.port, r.token(r.acme, 'alice'));
    for (let i = 0; i < 1000; i++) a.send({ t: 'pointer', x: i, y: i });
    await closedWith(a, 4029, 'rate_limited');
  });

  await t.test('token expiry closes the agent socket', async (t) => {
    const a = await connectAgent(r.port, r.token(r.acme, 'shortlived', 'Short', 2));
    const c = await a.closed;
    t.equal(c.code, 4001);
    t.equal(c.reason, 'token_expired');
  });

  await t.test('per-IP connection cap', async (t) => {
    const socks: TestSocket[] = [];
    let res: { status: number; body: any } | undefined;
    for (let i = 0; i < 40 && !res; i++) {
      try {
        socks.push((await connectVisitor(r.port, r.acme.publicKey)).sock);
      } catch (err) {
        res = { status: (err as any).status, body: (err as any).body };
      }
    }
    t.equal(res?.status, 429, 'connections past the cap are refused');
    t.equal(res?.body.error.code, 'too_many_connections');
    for (const s of socks) s.close();
    await Promise.all(socks.map((s) => s.closed));
  });

  clearInterval(streaming);
  const total = seq;
  await ba.until(() => ba.frames.length >= total, 10_000, 'bystander frames');
  t.equal(ba.frames.length, total, `the bystander got all ${total} frames`);
  t.ok(ba.frames.every((f, i) => f.readUInt32BE(1) === i), 'in order, none missing');
  t.equal(ba.closeInfo, undefined, 'the bystander agent stayed connected');
  t.equal(bv.closeInfo, undefined, 'the bystander visitor stayed connected');
  await sleep(10);
});
