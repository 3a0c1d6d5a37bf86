/** Auth building blocks: origin allow-lists, secret hashing, visitor tokens, agent JWTs. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import t from 'tap';
import { AGENT_AUDIENCE, RELAY_ISSUER } from '../../../../protocol/index.ts';
import { AccountService } from '../../../../relay/accounts.ts';
import { MAX_AGENT_TOKEN_LIFETIME_SEC, mintAgentToken, relayJwtKey, verifyAgentToken, type VerifyResult } from '../../../../relay/auth/agentToken.ts';
import { normaliseOriginPattern, originAllowed } from '../../../../relay/auth/origin.ts';
import { accountIdFromSecretKey, hashSecret, makeSecretKey, randomId, verifySecret } from '../../../../relay/auth/secrets.ts';
import { newTabId, newVisitorId, verifyVisitorToken, visitorToken } from '../../../../relay/auth/visitorToken.ts';
import { SqliteStore } from '../../../../relay/store/sqlite.ts';
import { filesUnder } from '../../../helpers/relay.ts';

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const nowSec = () => Math.floor(Date.now() / 1000);

t.test('origin patterns: normalisation', async (t) => {
  const ok: Array<[string, string]> = [
    ['https://a.example.com', 'https://a.example.com'],
    ['https://a.example.com/', 'https://a.example.com'],
    ['HTTPS://A.Example.COM', 'https://a.example.com'],
    ['http://localhost:3000', 'http://localhost:3000'],
    ['https://a.example.com:8443', 'https://a.example.com:8443'],
    ['https://a.example.com:443', 'https://a.example.com'], // default port: browsers never send it
    ['http://a.example.com:80', 'http://a.example.com'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['https://*.example.com', 'https://*.example.com'],
    ['https://*.EXAMPLE.com', 'https://*.example.com'],
    ['https://*.example.com:8443', 'https://*.example.com:8443'],
    ['https://*.example.com:443', 'https://*.example.com'],
    ['https://*.bücher.de', 'https://*.xn--bcher-kva.de'], // the punycode form browsers send
  ];
  for (const [input, want] of ok) t.equal(normaliseOriginPattern(input), want, `${input} -> ${want}`);

  const bad = [
    '', 'not-a-url', '*', 'example.com', '//example.com', 'ftp://a.example.com', 'javascript:alert(1)',
    'https://a.example.com/path', 'https://a.example.com/*', 'https://a.example.com?x=1', 'https://a.example.com#f',
    'https://user@a.example.com', 'https://user:pw@a.example.com', 'https://a.example.com:99999',
    'https://*.example.com/path', 'https://*.example.com/', 'https://*example.com', 'https://*.', 'https://*',
    'https://*.*.example.com', 'https://a.*.example.com', 'https://*.exa mple.com', 'https://*.example.com:99999',
    'https://*.evil.com@example.com', 'ws://*.example.com', 'null',
  ];
  for (const input of bad) t.throws(() => normaliseOriginPattern(input), /not an origin/, `rejects ${JSON.stringify(input)}`);
});

t.test('origin allow-list matching', async (t) => {
  const exact = ['https://shop.example.com'];
  t.ok(originAllowed('https://shop.example.com', exact), 'exact origin matches');
  t.notOk(originAllowed('http://shop.example.com', exact), 'exact: other scheme refused');
  t.notOk(originAllowed('https://shop.example.com:8443', exact), 'exact: other port refused');
  t.notOk(originAllowed('https://x.shop.example.com', exact), 'exact: subdomain refused');
  t.notOk(originAllowed('https://shop.example.com.evil.net', exact), 'exact: suffix attack refused');
  t.notOk(originAllowed('https://shop.example.com/', exact), 'an origin with a path is not a bare origin');
  t.notOk(originAllowed('https://SHOP.example.com', exact), 'a non-canonical (upper-case) origin is refused');
  // Parsed headers are remembered (relay/auth/origin.ts): the same answers the second time, and per allow-list.
  t.notOk(originAllowed('https://SHOP.example.com', exact), 'refused again (from the cache)');
  t.ok(originAllowed('https://shop.example.com', exact), 'matches again (from the cache)');
  t.notOk(originAllowed('https://shop.example.com', ['https://other.example.com']), 'a cached origin against another allow-list: refused');
  t.notOk(originAllowed(`https://${'a'.repeat(300)}.example.com`, exact), 'a long origin (not cached) is checked all the same');
  t.ok(originAllowed(`https://${'a'.repeat(300)}.example.com`, ['https://*.example.com']), 'and can match');

  const wild = ['https://*.example.com'];
  t.ok(originAllowed('https://a.example.com', wild), 'wildcard matches a subdomain');
  t.ok(originAllowed('https://a.b.example.com', wild), 'wildcard matches a deeper subdomain');
  t.notOk(originAllowed('https://example.com', wild), 'wildcard does not match the apex');
  t.notOk(originAllowed('http://a.example.com', wild), 'wildcard does not match another scheme');
  t.notOk(originAllowed('https://a.example.com.evil.net', wild), 'wildcard: suffix attack refused');
  t.notOk(originAllowed('https://evilexample.com', wild), 'wildcard: label boundary respected');
  t.notOk(originAllowed('https://a.example.com:8443', wild), 'wildcard without port does not match a port');
  t.notOk(originAllowed('https://a.example.com@evil.net', wild), 'userinfo trick refused');

  const wildPort = [normaliseOriginPattern('https://*.example.com:8443')];
  t.ok(originAllowed('https://a.example.com:8443', wildPort), 'wildcard with port matches that port');
  t.notOk(originAllowed('https://a.example.com', wildPort), 'wildcard with port does not match the default port');
  t.notOk(originAllowed('https://a.example.com:9443', wildPort), 'wildcard with port does not match another port');

  const defaultPort = [normaliseOriginPattern('https://*.example.com:443')];
  t.ok(originAllowed('https://a.example.com', defaultPort), 'wildcard written with :443 matches what browsers send');
  const idn = [normaliseOriginPattern('https://*.bücher.de')];
  t.ok(originAllowed(new URL('https://shop.bücher.de').origin, idn), 'IDN wildcard matches the punycode origin');

  for (const o of [undefined, '', 'null', 'not a url', 'https://']) {
    t.notOk(originAllowed(o, [...exact, ...wild]), `origin ${JSON.stringify(o)} refused`);
  }
  t.notOk(originAllowed('https://shop.example.com', []), 'empty allow-list refuses everything');
});

t.test('secret hashing', async (t) => {
  const secret = makeSecretKey(randomId('acc'));
  const hash = await hashSecret(secret);
  t.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/, 'scrypt$N$r$p$salt$hash, base64url');
  t.notOk(hash.includes(secret), 'the secret is not in its hash');
  t.notOk(hash.includes(secret.split('.')[1]), 'nor is its random part');
  t.not(await hashSecret(secret), hash, 'salted: hashing twice gives two hashes');
  t.equal(await verifySecret(secret, hash), true, 'the right secret verifies');
  t.equal(await verifySecret(secret + 'x', hash), false, 'a longer secret does not');
  t.equal(await verifySecret(secret.slice(0, -1), hash), false, 'a shorter secret does not');
  t.equal(await verifySecret('', hash), false, 'the empty secret does not');
  const parts = hash.split('$');
  const flipped = [...parts.slice(0, 5), Buffer.from(Buffer.from(parts[5], 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url')].join('$');
  t.equal(await verifySecret(secret, flipped), false, 'a tampered hash does not verify');
  for (const stored of ['', 'garbage', 'bcrypt$1$2$3$4$5', 'scrypt$a$b$c$d$e', `scrypt$16384$8$1$${parts[4]}$`, 'scrypt$16384$8$1$$', `scrypt$16384$8$1$${parts[4]}$AAAA`]) {
    t.equal(await verifySecret(secret, stored), false, `malformed stored hash ${JSON.stringify(stored)} -> false, no throw`);
  }
});

t.test('secret keys carry their account id', async (t) => {
  const id = randomId('acc');
  t.match(id, /^acc_[A-Za-z0-9_-]{16}$/);
  const sk = makeSecretKey(id);
  t.match(sk, /^sk_acc_[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{32}$/);
  t.equal(accountIdFromSecretKey(sk), id);
  t.not(makeSecretKey(id), sk, 'each key is random');
  for (const bad of ['', 'sk_', `sk_${id}`, `sk_${id}.`, `sk_${id}.short`, `pk_${id}.${'a'.repeat(32)}`, `${id}.${'a'.repeat(32)}`,
    ` ${sk}`, `${sk} `, `${sk}\n`, `sk_acc_$where.${'a'.repeat(32)}`, `sk_${id}.${'a'.repeat(129)}`, `sk_${id}.${'a'.repeat(20)}.x`]) {
    t.equal(accountIdFromSecretKey(bad), null, `no account id in ${JSON.stringify(bad.slice(0, 40))}`);
  }
});

t.test('visitor tokens bind a visitor id to one account and one relay', async (t) => {
  const secret = crypto.randomBytes(32);
  const before = Math.floor(Date.now() / 1000);
  const v = newVisitorId();
  const after = Math.floor(Date.now() / 1000);
  // The creation second (base36, 7 characters: ids sort by time as bytes), then 16 random characters.
  t.match(v, /^[0-9a-z]{7}[A-Za-z0-9_-]{16}$/);
  const second = parseInt(v.slice(0, 7), 36);
  t.ok(second >= before && second <= after, `the prefix is the creation second (${second}, expected ${before}..${after})`);
  const many = Array.from({ length: 2000 }, newVisitorId);
  t.equal(new Set(many.map((id) => id.slice(7))).size, many.length, 'the random parts differ');
  t.ok(many.every((id, i) => i === 0 || id.slice(0, 7) >= many[i - 1].slice(0, 7)), 'prefixes never go back in time');
  t.equal(many.join('').length, 23 * many.length, 'every id is 23 characters');
  t.match(newTabId(), /^[A-Za-z0-9_-]{8}$/);
  const tok = visitorToken(secret, 'acc_A', v);
  t.match(tok, /^[A-Za-z0-9_-]{43}$/);
  t.equal(verifyVisitorToken(secret, 'acc_A', v, tok), true, 'same account + visitor verifies');
  t.equal(verifyVisitorToken(secret, 'acc_B', v, tok), false, 'another account does not');
  t.equal(verifyVisitorToken(secret, 'acc_A', newVisitorId(), tok), false, 'another visitor does not');
  t.equal(verifyVisitorToken(crypto.randomBytes(32), 'acc_A', v, tok), false, 'another relay secret does not');
  t.equal(verifyVisitorToken(secret, 'acc_A', v, tok.slice(0, -1)), false, 'truncated token does not');
  t.equal(verifyVisitorToken(secret, 'acc_A', v, ''), false, 'empty token does not');
  t.equal(verifyVisitorToken(secret, 'acc_A', v, 'é'.repeat(43)), false, 'same length in chars, other bytes: false, no throw');
  // The separator keeps (account, visitor) pairs from colliding when concatenated.
  t.not(visitorToken(secret, 'acc_A', 'bc'), visitorToken(secret, 'acc_Ab', 'c'));
});

t.test('agent tokens', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-auth-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore(dir);
  t.teardown(() => store.close());
  const accounts = new AccountService(store);
  const getAccount = (id: string) => store.getAccountById(id);

  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaOther = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecOther = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = (k: crypto.KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();

  const relaySecret = crypto.randomBytes(32);
  const plain = await accounts.create({ name: 'plain', origins: ['https://a.example.com'] });
  const rsAcc = await accounts.create({ name: 'rs', origins: ['https://a.example.com'], agentKey: { alg: 'RS256', pem: pub(rsa.publicKey) } });
  const esAcc = await accounts.create({ name: 'es', origins: ['https://a.example.com'], agentKey: { alg: 'ES256', pem: pub(ec.publicKey) } });

  const expectInvalid = (t: { equal: (...a: any[]) => boolean; notOk: (...a: any[]) => boolean; comment: (...a: any[]) => void }, r: VerifyResult, what: string, code = 'invalid_token') => {
    t.notOk(r.ok, `${what}: refused`);
    if (!r.ok) {
      t.equal(r.code, code, `${what}: code ${code}`);
      t.comment(`${what}: ${r.message}`);
    }
  };

  await t.test('relay-minted HS256 token verifies, with its claims', async (t) => {
    const tok = mintAgentToken(relaySecret, { accountId: plain.accountId, agentId: 'alice', name: 'Alice A.', ttlSec: 600 });
    const header = JSON.parse(Buffer.from(tok.split('.')[0], 'base64url').toString());
    t.equal(header.alg, 'HS256');
    const r = await verifyAgentToken(tok, relaySecret, getAccount);
    t.ok(r.ok, 'verifies');
    if (r.ok) {
      t.equal(r.claims.agentId, 'alice');
      t.equal(r.claims.name, 'Alice A.');
      t.equal(r.claims.accountId, plain.accountId);
      t.ok(Math.abs(r.claims.exp - (nowSec() + 600)) <= 2, 'exp is now + ttl');
    }
    t.notOk(tok.includes(relaySecret.toString('base64url')), 'the relay secret is not in the token');
  });

  await t.test('rejected relay tokens', async (t) => {
    const base = { acc: plain.accountId, name: 'x' };
    const key = relayJwtKey(relaySecret);
    const opts = { algorithm: 'HS256' as const, issuer: RELAY_ISSUER, audience: AGENT_AUDIENCE, subject: 'alice' };

    const noneHeader = b64url({ alg: 'none', typ: 'JWT' });
    const payload = b64url({ ...base, sub: 'alice', iss: RELAY_ISSUER, aud: AGENT_AUDIENCE, exp: nowSec() + 600 });
    expectInvalid(t, await verifyAgentToken(`${noneHeader}.${payload}.`, relaySecret, getAccount), 'alg none, empty signature');
    expectInvalid(t, await verifyAgentToken(`${noneHeader}.${payload}`, relaySecret, getAccount), 'alg none, no signature part');
    const NoneHeader = b64url({ alg: 'None', typ: 'JWT' });
    expectInvalid(t, await verifyAgentToken(`${NoneHeader}.${payload}.`, relaySecret, getAccount), 'alg None');
    // A valid HS256 signature, but the header swapped to none afterwards.
    const good = jwt.sign(base, key, { ...opts, expiresIn: 600 });
    const [, p2, s2] = good.split('.');
    expectInvalid(t, await verifyAgentToken(`${noneHeader}.${p2}.${s2}`, relaySecret, getAccount), 'header swapped to none');

    const wrongSecret = mintAgentToken(crypto.randomBytes(32), { accountId: plain.accountId, agentId: 'alice', name: 'a', ttlSec: 600 });
    expectInvalid(t, await verifyAgentToken(wrongSecret, relaySecret, getAccount), 'signed by another relay');
    const rawSecret = jwt.sign(base, relaySecret, { ...opts, expiresIn: 600 });
    expectInvalid(t, await verifyAgentToken(rawSecret, relaySecret, getAccount), 'signed with the raw relay secret, not the derived key');

    const expired = jwt.sign({ ...base, exp: nowSec() - 5 }, key, opts);
    expectInvalid(t, await verifyAgentToken(expired, relaySecret, getAccount), 'expired', 'token_expired');
    const expiredByMint = mintAgentToken(relaySecret, { accountId: plain.accountId, agentId: 'alice', name: 'a', ttlSec: -1 });
    expectInvalid(t, await verifyAgentToken(expiredByMint, relaySecret, getAccount), 'minted already expired', 'token_expired');

    const noExp = jwt.sign(base, key, { ...opts, noTimestamp: true });
    t.notOk('exp' in (jwt.decode(noExp) as object), 'the crafted token really has no exp');
    expectInvalid(t, await verifyAgentToken(noExp, relaySecret, getAccount), 'missing exp');

    expectInvalid(t, await verifyAgentToken(jwt.sign(base, key, { ...opts, audience: 'someone-else', expiresIn: 600 }), relaySecret, getAccount), 'wrong audience');
    const { audience: _a, ...noAudOpts } = opts;
    expectInvalid(t, await verifyAgentToken(jwt.sign(base, key, { ...noAudOpts, expiresIn: 600 }), relaySecret, getAccount), 'no audience');
    const { issuer: _i, ...noIssOpts } = opts;
    expectInvalid(t, await verifyAgentToken(jwt.sign(base, key, { ...noIssOpts, expiresIn: 600 }), relaySecret, getAccount), 'no issuer');
    expectInvalid(t, await verifyAgentToken(jwt.sign(base, key, { ...opts, subject: 'not an id!', expiresIn: 600 }), relaySecret, getAccount), 'sub is not an agent id');
    const { subject: _s, ...noSubOpts } = opts;
    expectInvalid(t, await verifyAgentToken(jwt.sign(base, key, { ...noSubOpts, expiresIn: 600 }), relaySecret, getAccount), 'no sub');
    expectInvalid(t, await verifyAgentToken(jwt.sign({ name: 'x' }, key, { ...opts, expiresIn: 600 }), relaySecret, getAccount), 'relay token without acc');
    expectInvalid(t, await verifyAgentToken(jwt.sign(base, key, { ...opts, expiresIn: 600, notBefore: 3600 }), relaySecret, getAccount), 'not yet valid (nbf)');
    expectInvalid(t, await verifyAgentToken(jwt.sign(base, rsa.privateKey, { ...opts, algorithm: 'RS256', expiresIn: 600 }), relaySecret, getAccount), 'relay issuer but RS256');
    for (const junk of ['', 'abc', 'a.b.c', `${b64url({ alg: 'HS256' })}.${b64url('[]')}.x`]) {
      expectInvalid(t, await verifyAgentToken(junk, relaySecret, getAccount), `not a JWT ${JSON.stringify(junk.slice(0, 20))}`);
    }
  });

  await t.test('HS256 tokens claiming a customer issuer are refused', async (t) => {
    const key = relayJwtKey(relaySecret);
    for (const acc of [plain, rsAcc, esAcc]) {
      const tok = jwt.sign({ name: 'x' }, key, { algorithm: 'HS256', issuer: acc.accountId, audience: AGENT_AUDIENCE, subject: 'alice', expiresIn: 600 });
      expectInvalid(t, await verifyAgentToken(tok, relaySecret, getAccount), `HS256 with iss=${acc === plain ? 'account without agent key' : acc === rsAcc ? 'RS256 account' : 'ES256 account'}`);
    }
    const unknown = jwt.sign({}, key, { algorithm: 'HS256', issuer: 'acc_doesnotexist', audience: AGENT_AUDIENCE, subject: 'alice', expiresIn: 600 });
    expectInvalid(t, await verifyAgentToken(unknown, relaySecret, getAccount), 'unknown issuer');
    const weird = jwt.sign({}, key, { algorithm: 'HS256', issuer: '../../etc', audience: AGENT_AUDIENCE, subject: 'alice', expiresIn: 600 });
    expectInvalid(t, await verifyAgentToken(weird, relaySecret, getAccount), 'issuer that is not an id');
  });

  await t.test('customer-signed RS256 and ES256 tokens', async (t) => {
    const sign = (key: crypto.KeyObject, alg: jwt.Algorithm, iss: string, extra: object = {}, o: jwt.SignOptions = {}) =>
      jwt.sign({ name: 'Bob', ...extra }, key, { algorithm: alg, issuer: iss, audience: AGENT_AUDIENCE, subject: 'bob', expiresIn: 600, ...o });

    for (const [acc, priv, alg] of [[rsAcc, rsa.privateKey, 'RS256'], [esAcc, ec.privateKey, 'ES256']] as const) {
      const r = await verifyAgentToken(sign(priv, alg, acc.accountId), relaySecret, getAccount);
      t.ok(r.ok, `${alg} token signed with the registered key verifies`);
      if (r.ok) t.same({ ...r.claims, exp: 0 }, { agentId: 'bob', name: 'Bob', accountId: acc.accountId, exp: 0 }, `${alg}: claims from the token, account from the issuer`);
      const withAcc = await verifyAgentToken(sign(priv, alg, acc.accountId, { acc: acc.accountId }), relaySecret, getAccount);
      t.ok(withAcc.ok, `${alg}: a matching acc claim is fine`);
      expectInvalid(t, await verifyAgentToken(sign(priv, alg, acc.accountId, { acc: plain.accountId }), relaySecret, getAccount), `${alg}: acc claim naming another account`);
      expectInvalid(t, await verifyAgentToken(sign(priv, alg, acc.accountId, {}, { expiresIn: -5 }), relaySecret, getAccount), `${alg}: expired`, 'token_expired');
      expectInvalid(t, await verifyAgentToken(sign(priv, alg, acc.accountId, {}, { audience: 'other' }), relaySecret, getAccount), `${alg}: wrong audience`);
      // Lifetime is capped at 7 days, whether measured from iat or (without iat) from now.
      t.ok((await verifyAgentToken(sign(priv, alg, acc.accountId, {}, { expiresIn: MAX_AGENT_TOKEN_LIFETIME_SEC }), relaySecret, getAccount)).ok, `${alg}: a 7-day token is fine`);
      expectInvalid(t, await verifyAgentToken(sign(priv, alg, acc.accountId, {}, { expiresIn: '10y' }), relaySecret, getAccount), `${alg}: a 10-year token`);
      expectInvalid(t, await verifyAgentToken(sign(priv, alg, acc.accountId, {}, { expiresIn: MAX_AGENT_TOKEN_LIFETIME_SEC + 3600, noTimestamp: true }), relaySecret, getAccount), `${alg}: no iat and exp 7 days + 1 h away`);
      expectInvalid(t, await verifyAgentToken(sign(priv, alg, acc.accountId, { iat: nowSec() + 86400 * 30 }, { expiresIn: 600 }), relaySecret, getAccount), `${alg}: an iat in the future does not stretch the cap`);
      // The customer's key can not speak for another account, nor for the relay.
      expectInvalid(t, await verifyAgentToken(sign(priv, alg, plain.accountId), relaySecret, getAccount), `${alg}: issuer set to another account`);
      expectInvalid(t, await verifyAgentToken(sign(priv, alg, RELAY_ISSUER, { acc: acc.accountId }), relaySecret, getAccount), `${alg}: issuer set to the relay`);
      const header = b64url({ alg: 'none', typ: 'JWT' });
      const body = b64url({ iss: acc.accountId, sub: 'bob', aud: AGENT_AUDIENCE, exp: nowSec() + 600 });
      expectInvalid(t, await verifyAgentToken(`${header}.${body}.`, relaySecret, getAccount), `${alg}: alg none with customer issuer`);
    }

    expectInvalid(t, await verifyAgentToken(sign(rsaOther.privateKey, 'RS256', rsAcc.accountId), relaySecret, getAccount), 'RS256 signed with another key');
    expectInvalid(t, await verifyAgentToken(sign(ecOther.privateKey, 'ES256', esAcc.accountId), relaySecret, getAccount), 'ES256 signed with another key');
    expectInvalid(t, await verifyAgentToken(sign(ec.privateKey, 'ES256', rsAcc.accountId), relaySecret, getAccount), 'ES256 token for an RS256 account');
    expectInvalid(t, await verifyAgentToken(sign(rsa.privateKey, 'RS256', esAcc.accountId), relaySecret, getAccount), 'RS256 token for an ES256 account');
    // Same key, other algorithms than the pinned one.
    for (const alg of ['PS256', 'RS384', 'RS512'] as const) {
      expectInvalid(t, await verifyAgentToken(sign(rsa.privateKey, alg, rsAcc.accountId), relaySecret, getAccount), `${alg} with the registered RSA key (pinned RS256)`);
    }

    // Key confusion: HS256 keyed with the account's public key, exactly as the relay stores it.
    for (const acc of [rsAcc, esAcc]) {
      const stored = await store.getAccountById(acc.accountId);
      const pemText = stored!.agentKey!.pem;
      for (const secret of [pemText, pemText.trim(), crypto.createPublicKey(pemText).export({ type: 'spki', format: 'der' })]) {
        const header = b64url({ alg: 'HS256', typ: 'JWT' });
        const body = b64url({ iss: acc.accountId, sub: 'mallory', aud: AGENT_AUDIENCE, exp: nowSec() + 600, name: 'Mallory' });
        const sig = crypto.createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
        expectInvalid(t, await verifyAgentToken(`${header}.${body}.${sig}`, relaySecret, getAccount), `key confusion: HS256 keyed with ${acc === rsAcc ? 'RSA' : 'EC'} public key (${typeof secret === 'string' ? 'PEM text' : 'DER'})`);
      }
    }
  });

  await t.test('agent key registration keeps only a matching public key', async (t) => {
    const privPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const created = await accounts.create({ name: 'given-private', origins: ['https://a.example.com'], agentKey: { alg: 'RS256', pem: privPem } });
    const rec = await store.getAccountById(created.accountId);
    t.match(rec!.agentKey!.pem, /^-----BEGIN PUBLIC KEY-----/, 'stored as a public key');
    t.notMatch(rec!.agentKey!.pem, /PRIVATE/, 'no private key stored');
    const privBody = privPem.split('\n').slice(1, 3).join('');
    for (const f of filesUnder(dir)) {
      const bytes = fs.readFileSync(f).toString('latin1');
      t.notOk(bytes.includes('PRIVATE KEY') || bytes.includes(privBody), `no private key material in ${path.basename(f)}`);
    }
    const tok = jwt.sign({}, rsa.privateKey, { algorithm: 'RS256', issuer: created.accountId, audience: AGENT_AUDIENCE, subject: 'bob', expiresIn: 60 });
    t.ok((await verifyAgentToken(tok, relaySecret, getAccount)).ok, 'tokens signed with that key still verify');

    const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    await t.rejects(accounts.create({ name: 'p384', origins: ['https://a.example.com'], agentKey: { alg: 'ES256', pem: pub(p384.publicKey) } }), /does not match ES256/, 'ES256 needs a P-256 key');
    await t.rejects(accounts.create({ name: 'ecAsRsa', origins: ['https://a.example.com'], agentKey: { alg: 'RS256', pem: pub(ec.publicKey) } }), /does not match RS256/, 'RS256 needs an RSA key');
    await t.rejects(accounts.create({ name: 'rsaAsEc', origins: ['https://a.example.com'], agentKey: { alg: 'ES256', pem: pub(rsa.publicKey) } }), /does not match ES256/, 'ES256 needs an EC key');
    await t.rejects(accounts.create({ name: 'junk', origins: ['https://a.example.com'], agentKey: { alg: 'RS256', pem: 'not a pem' } }), 'junk PEM refused');
    t.equal(await store.getAccountByName('p384'), null, 'nothing stored for a refused key');
  });

  await t.test('AccountService.verifySecretKey', async (t) => {
    const a = await accounts.verifySecretKey(plain.secretKey);
    t.equal(a?.id, plain.accountId, 'the right secret finds its account');
    t.equal((await accounts.verifySecretKey(plain.secretKey))?.id, plain.accountId, 'again (cached path)');
    t.equal(await accounts.verifySecretKey(plain.secretKey.slice(0, -2) + 'xx'), null, 'a wrong secret for a real account');
    t.equal(await accounts.verifySecretKey(makeSecretKey(rsAcc.accountId)), null, 'a well-formed key for another account');
    const swapped = `sk_${rsAcc.accountId}.${plain.secretKey.split('.')[1]}`;
    t.equal(await accounts.verifySecretKey(swapped), null, "account A's random part under account B's id");
    t.equal(await accounts.verifySecretKey(plain.publicKey), null, 'the public key is not a secret key');
    t.equal(await accounts.verifySecretKey(''), null);
    t.equal(await accounts.verifySecretKey(makeSecretKey('acc_nonexistent00000')), null, 'unknown account');
  });
});
