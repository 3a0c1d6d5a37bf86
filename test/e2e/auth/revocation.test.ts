/**
 * Rotating an account's secret key revokes the agent tokens minted with it: at once on this relay
 * (REST, new upgrades, and agent sockets already open), while tokens minted with the new key work.
 */
import t from 'tap';
import { connectAgent } from '../../helpers/clients.ts';
import { agentUpgrade, restCall } from '../../helpers/authProbe.ts';
import { startTestRelay, type TestRelay } from '../../helpers/relay.ts';

async function mint(r: TestRelay, secretKey: string, agentId: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${r.port}/api/v1/agent-tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agentId, name: agentId }),
  });
  if (res.status !== 201) throw new Error(`mint: HTTP ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

t.test('a token minted with a leaked key stops working when the key is rotated', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const me = '127.0.0.1';
  const leaked = await mint(r, r.acme.secretKey, 'mallory');
  const otherAccount = await mint(r, r.other.secretKey, 'olga');
  t.equal((await restCall(r.port, '/api/v1/visitors', me, `Bearer ${leaked}`)).status, 200, 'before: the token works over REST');
  const open = await connectAgent(r.port, leaked);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => open.ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));

  const rotated = await fetch(`http://127.0.0.1:${r.port}/api/v1/account/rotate-secret`, { method: 'POST', headers: { authorization: `Bearer ${r.acme.secretKey}` } });
  t.equal(rotated.status, 200, 'rotated');
  const fresh = ((await rotated.json()) as { secretKey: string }).secretKey;

  const notClosed = new Promise((resolve) => setTimeout(() => resolve('still open after 5 s'), 5000).unref());
  t.same(await Promise.race([closed, notClosed]), { code: 4001, reason: 'token_expired' }, 'the open agent socket is closed (4001)');
  t.match(open.texts.at(-1), { t: 'error', message: /revoked/ }, 'telling why: revoked');
  const rest = await restCall(r.port, '/api/v1/visitors', me, `Bearer ${leaked}`);
  t.equal(rest.status, 401, 'REST: 401');
  const upgrade = await agentUpgrade(r.port, leaked, me);
  t.same([upgrade.status, upgrade.code], [401, 'invalid_token'], 'a new agent socket: 401 invalid_token');

  const renewed = await mint(r, fresh, 'alice');
  t.equal((await restCall(r.port, '/api/v1/visitors', me, `Bearer ${renewed}`)).status, 200, 'a token minted with the new key works');
  t.equal((await agentUpgrade(r.port, renewed, me)).status, 101, 'and opens agent sockets');
  t.equal((await restCall(r.port, '/api/v1/visitors', me, `Bearer ${otherAccount}`)).status, 200, "another account's tokens are untouched");
  t.equal((await restCall(r.port, '/api/v1/visitors', me, `Bearer ${r.token(r.acme, 'ops')}`)).status, 200, 'operator-minted tokens (relay secret, no key) are not tied to the key');
});

t.test('rotation by another process (the CLI): key-minted tokens are refused once this relay reads the account again', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const leaked = await mint(r, r.acme.secretKey, 'mallory');
  t.equal((await restCall(r.port, '/api/v1/visitors', '127.0.0.1', `Bearer ${leaked}`)).status, 200, 'works (and the account is now cached here)');
  const { AccountService } = await import('../../../relay/accounts.ts');
  const { SqliteStore } = await import('../../../relay/store/sqlite.ts');
  const cli = new SqliteStore(r.dataDir);
  const fresh = await new AccountService(cli).rotateSecret(r.acme.accountId);
  await cli.close();
  // The relay's account cache turns over within 30 s; the new key's first use here reads it at once.
  t.equal((await restCall(r.port, '/api/v1/visitors', '127.0.0.1', `Bearer ${fresh}`)).status, 200, 'the new key works here');
  const after = await restCall(r.port, '/api/v1/visitors', '127.0.0.1', `Bearer ${leaked}`);
  t.equal(after.status, 401, 'the token minted with the old key is refused');
});

t.test('rotation by another process closes this relay\'s open agent sockets (4001) within AGENT_REVOCATION_CHECK_MS', async (t) => {
  const r = await startTestRelay({ AGENT_REVOCATION_CHECK_MS: '300' });
  t.teardown(r.stop);
  const leaked = await connectAgent(r.port, await mint(r, r.acme.secretKey, 'mallory'));
  const operator = await connectAgent(r.port, r.token(r.acme, 'ops')); // relay-minted: not tied to the key
  const otherAccount = await connectAgent(r.port, await mint(r, r.other.secretKey, 'olga'));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => leaked.ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));

  // Another relay, or `npm run account -- rotate-secret`: a second AccountService on the same SQLite file.
  const { AccountService } = await import('../../../relay/accounts.ts');
  const { SqliteStore } = await import('../../../relay/store/sqlite.ts');
  const elsewhere = new SqliteStore(r.dataDir);
  const rotatedAt = performance.now();
  t.ok(await new AccountService(elsewhere).rotateSecret(r.acme.accountId), 'rotated elsewhere');
  await elsewhere.close();

  const notClosed = new Promise((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000).unref());
  t.same(await Promise.race([closed, notClosed]), { code: 4001, reason: 'token_expired' }, 'the open agent socket is closed (4001)');
  const tookMs = performance.now() - rotatedAt;
  t.ok(tookMs < 300 + 1000, `within the check interval (300 ms) plus a pass: ${Math.round(tookMs)} ms`);
  t.match(leaked.texts.at(-1), { t: 'error', message: /revoked/ }, 'telling why: revoked');
  t.equal(operator.ws.readyState, operator.ws.OPEN, 'the operator-minted socket of that account stays open');
  t.equal(otherAccount.ws.readyState, otherAccount.ws.OPEN, "another account's socket stays open");
  operator.ws.close();
  otherAccount.ws.close();
});

t.test('AGENT_REVOCATION_CHECK_MS is bounded (at most 30 s)', async (t) => {
  const { loadConfig, ConfigError } = await import('../../../relay/config.ts');
  t.equal(loadConfig({}).agentRevocationCheckMs, 30_000, 'default 30 s');
  t.throws(() => loadConfig({ AGENT_REVOCATION_CHECK_MS: '60000' }), ConfigError, 'longer than 30 s is refused at start-up');
  t.throws(() => loadConfig({ AGENT_REVOCATION_CHECK_MS: '10' }), ConfigError, 'too short is refused');
});
