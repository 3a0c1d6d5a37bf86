/** Rotating an account's secret key: over REST and from the CLI's side (another process's service). */
import fs from 'node:fs';
import t from 'tap';
import { AccountService } from '../../../relay/accounts.ts';
import { SqliteStore } from '../../../relay/store/sqlite.ts';
import { filesUnder, startTestRelay } from '../../helpers/relay.ts';

async function api(port: number, path: string, key: string, method = 'GET') {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json().catch(() => undefined) as any };
}

t.test('POST /api/v1/account/rotate-secret: a new key at once, the old one refused at once', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  const old = r.acme.secretKey;
  t.equal((await api(r.port, '/api/v1/visitors', old)).status, 200, 'the old key works (and is now cached as verified)');

  const rotated = await api(r.port, '/api/v1/account/rotate-secret', old, 'POST');
  t.equal(rotated.status, 200, 'rotated');
  t.equal(rotated.body.accountId, r.acme.accountId);
  const fresh = rotated.body.secretKey as string;
  t.match(fresh, new RegExp(`^sk_${r.acme.accountId}\\.[A-Za-z0-9_-]{32}$`), 'a new key of the account');
  t.not(fresh, old);

  const oldNow = await api(r.port, '/api/v1/visitors', old);
  t.equal(oldNow.status, 401, 'the old key is refused at once, cache or not');
  t.equal(oldNow.body?.error?.code, 'unauthorized');
  t.equal((await api(r.port, '/api/v1/visitors', fresh)).status, 200, 'the new key works');
  t.equal((await api(r.port, '/api/v1/account/rotate-secret', old, 'POST')).status, 401, 'the old key cannot rotate again');
  t.equal((await api(r.port, '/api/v1/visitors', r.other.secretKey)).status, 200, "another account's key is untouched");
  t.equal((await api(r.port, '/api/v1/visitors', r.token(r.acme, 'alice'))).status, 200, 'operator-minted agent tokens (no secret key involved) keep working; key-minted ones: test/e2e/auth/revocation.test.ts');
  const agentRotate = await api(r.port, '/api/v1/account/rotate-secret', r.token(r.acme, 'alice'), 'POST');
  t.equal(agentRotate.status, 401, 'an agent cannot rotate the secret');

  const log = await api(r.port, '/api/v1/activity?type=secret_rotated', fresh);
  t.equal(log.status, 200);
  t.equal(log.body.items.length, 1, 'the rotation is in the activity log');
  t.notMatch(JSON.stringify(log.body), /sk_/, 'without the key');

  await r.stop();
  const leaked = [...filesUnder(r.dataDir), r.logFile].filter((f) => {
    const bytes = fs.readFileSync(f);
    return bytes.includes(fresh) || bytes.includes(old);
  });
  t.same(leaked, [], 'neither key is in any file under DATA_DIR or in the log');
});

t.test('a key rotated by another process (the CLI) works at once on a running relay', async (t) => {
  const r = await startTestRelay();
  t.teardown(r.stop);
  t.equal((await api(r.port, '/api/v1/visitors', r.acme.secretKey)).status, 200, 'the running relay has verified and cached the old key');
  // The CLI opens the same SQLite file with its own AccountService: no shared cache.
  const cliStore = new SqliteStore(r.dataDir);
  const fresh = await new AccountService(cliStore).rotateSecret(r.acme.accountId);
  await cliStore.close();
  t.ok(fresh, 'rotated');
  t.equal((await api(r.port, '/api/v1/visitors', fresh!)).status, 200, 'the new key works on the running relay at once');
  const wrong = `${fresh!.slice(0, -3)}xyz`;
  t.equal((await api(r.port, '/api/v1/visitors', wrong)).status, 401, 'a wrong key is still refused');
  t.equal(await new AccountService(r.relay.ctx.store).rotateSecret('acc_nosuchaccount01'), null, 'an unknown account: null');
});
