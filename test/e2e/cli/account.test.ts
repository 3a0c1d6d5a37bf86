/** The account CLI, run as a real process against a real SQLite file in a temp DATA_DIR. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { normaliseOriginPattern } from '../../../relay/auth/origin.ts';
import { verifySecret } from '../../../relay/auth/secrets.ts';
import { SqliteStore } from '../../../relay/store/sqlite.ts';
import { filesUnder } from '../../helpers/relay.ts';

/** A tap (sub)test: the argument of the single-callback overload of t.test. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// Each case spawns the CLI (a fresh tsx process): with coverage on and a loaded 2-core machine the
// file took over the 120 s default (39 s without coverage, unloaded).
t.setTimeout(300_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], dataDir: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir };
  delete env.MONGODB_URL; // the embedded store, always
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// The CLI as its own process, through tsx's loader (as `npm run account` runs it) without npx's start-up cost.
const cli = (args: string[], dataDir: string) => run(process.execPath, ['--import', 'tsx', 'scripts/account.ts', ...args], dataDir);
const tmp = (t: Test) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};
/** stderr without npm's own config warnings, which depend on the machine, not on the CLI. */
const cleanErr = (s: string) => s.split('\n').filter((l) => l && !/^npm warn/i.test(l)).join('\n');

function parseCreated(t: Test, r: Run) {
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, 'exactly one line on stdout');
  t.ok(r.stdout.endsWith('\n'), 'ends with a newline');
  const created = JSON.parse(lines[0]) as { accountId: string; publicKey: string; secretKey: string };
  t.same(Object.keys(created), ['accountId', 'publicKey', 'secretKey'], 'exactly accountId, publicKey, secretKey');
  t.match(created.accountId, /^acc_[A-Za-z0-9_-]{16}$/);
  t.match(created.publicKey, /^pk_[A-Za-z0-9_-]{24}$/);
  t.match(created.secretKey, new RegExp(`^sk_${created.accountId}\\.[A-Za-z0-9_-]{32}$`));
  return created;
}

t.test('create --json: one JSON line; the secret is nowhere on disk, the public key is', async (t) => {
  const dataDir = tmp(t);
  const r = await cli(['create', '--name', 'n', '--origin', 'https://a.example.com', '--json'], dataDir);
  t.equal(r.code, 0, 'exit 0');
  t.equal(cleanErr(r.stderr), '', 'nothing on stderr');
  const created = parseCreated(t, r);

  const files = filesUnder(dataDir);
  t.ok(files.some((f) => path.basename(f) === 'cobrowse.sqlite'), 'the SQLite file is in DATA_DIR');
  t.comment(`files: ${files.map((f) => path.relative(dataDir, f)).join(', ')}`);
  const randomPart = created.secretKey.split('.')[1];
  let publicKeyFound = false;
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    t.equal(bytes.indexOf(created.secretKey), -1, `secret key not in ${path.basename(f)}`);
    t.equal(bytes.indexOf(randomPart), -1, `secret key's random part not in ${path.basename(f)}`);
    t.equal(bytes.indexOf(Buffer.from(created.secretKey, 'utf16le')), -1, `secret key not in ${path.basename(f)} as UTF-16`);
    if (bytes.includes(created.publicKey)) publicKeyFound = true;
  }
  t.ok(publicKeyFound, 'the public key is stored (so the byte search does find stored strings)');

  const store = new SqliteStore(dataDir);
  t.teardown(() => store.close());
  const rec = await store.getAccountByName('n');
  t.equal(rec?.id, created.accountId, 'the account is in the store');
  t.equal(rec?.publicKey, created.publicKey);
  t.same(rec?.allowedOrigins, ['https://a.example.com']);
  t.equal(rec?.requireConsent, true, 'consent required by default');
  t.match(rec?.secretHash, /^scrypt\$/, 'only a scrypt hash is stored');
  t.equal(await verifySecret(created.secretKey, rec!.secretHash), true, 'the printed secret verifies against the stored hash');
});

t.test('npm run account --silent prints only the JSON line', async (t) => {
  const dataDir = tmp(t);
  const r = await run('npm', ['run', 'account', '--silent', '--', 'create', '--name', 'via npm', '--origin', 'https://*.Example.com', '--origin', 'http://localhost:3000', '--no-consent', '--json'], dataDir);
  t.equal(r.code, 0, 'exit 0');
  const created = parseCreated(t, r);
  const store = new SqliteStore(dataDir);
  t.teardown(() => store.close());
  const rec = await store.getAccountById(created.accountId);
  t.equal(rec?.name, 'via npm');
  t.same(rec?.allowedOrigins, ['https://*.example.com', 'http://localhost:3000'], 'origins normalised, order kept');
  t.equal(rec?.requireConsent, false, '--no-consent stored');
});

t.test('errors', async (t) => {
  const dataDir = tmp(t);
  const first = await cli(['create', '--name', 'dup', '--origin', 'https://a.example.com', '--json'], dataDir);
  t.equal(first.code, 0, 'first create succeeds');
  const firstCreated = JSON.parse(first.stdout);

  const dup = await cli(['create', '--name', 'dup', '--origin', 'https://b.example.com', '--json'], dataDir);
  t.not(dup.code, 0, 'duplicate name: non-zero exit');
  t.equal(dup.code, 1);
  t.equal(dup.stdout, '', 'duplicate name: no key printed');
  t.match(cleanErr(dup.stderr), /^error: .*(exists|already)/m, 'duplicate name: a clear message');
  t.notMatch(dup.stderr, /\n\s+at /, 'no stack trace');

  const noOrigin = await cli(['create', '--name', 'x', '--json'], dataDir);
  t.equal(noOrigin.code, 2, 'missing --origin: exit 2');
  t.match(cleanErr(noOrigin.stderr), /^usage: /m, 'missing --origin: usage');
  t.equal(noOrigin.stdout, '');

  const noName = await cli(['create', '--origin', 'https://a.example.com'], dataDir);
  t.equal(noName.code, 2, 'missing --name: exit 2');
  t.match(cleanErr(noName.stderr), /^usage: /m);

  const noCommand = await cli([], dataDir);
  t.equal(noCommand.code, 2, 'no command: exit 2');
  t.match(cleanErr(noCommand.stderr), /^usage: /m);

  const unknownOpt = await cli(['create', '--name', 'x', '--origin', 'https://a.example.com', '--bogus'], dataDir);
  t.equal(unknownOpt.code, 2, 'unknown option: exit 2');
  t.match(cleanErr(unknownOpt.stderr), /bogus/, 'names the unknown option');
  t.match(cleanErr(unknownOpt.stderr), /usage: /);
  t.notMatch(unknownOpt.stderr, /\n\s+at /, 'no stack trace');

  const badOrigin = await cli(['create', '--name', 'bad', '--origin', 'not-a-url', '--json'], dataDir);
  t.not(badOrigin.code, 0, 'bad origin: non-zero exit');
  t.match(cleanErr(badOrigin.stderr), /not an origin/, 'bad origin: says why');
  t.equal(badOrigin.stdout, '');
  const withPath = await cli(['create', '--name', 'bad2', '--origin', 'https://a.example.com/shop', '--json'], dataDir);
  t.not(withPath.code, 0, 'origin with a path: non-zero exit');

  const badAlg = await cli(['create', '--name', 'k', '--origin', 'https://a.example.com', '--agent-key', 'x.pem', '--agent-key-alg', 'HS256'], dataDir);
  t.equal(badAlg.code, 2, '--agent-key-alg HS256 refused with exit 2');
  t.match(cleanErr(badAlg.stderr), /RS256 or ES256/);
  const missingPem = await cli(['create', '--name', 'k', '--origin', 'https://a.example.com', '--agent-key', path.join(dataDir, 'nope.pem'), '--agent-key-alg', 'RS256'], dataDir);
  t.not(missingPem.code, 0, 'missing PEM file: non-zero exit');
  t.match(cleanErr(missingPem.stderr), /^error: .*nope\.pem/m, 'missing PEM file: says which');

  const store = new SqliteStore(dataDir);
  t.teardown(() => store.close());
  t.equal((await store.getAccountByName('dup'))?.id, firstCreated.accountId, 'the first account is intact');
  t.equal(await store.getAccountByName('bad'), null, 'nothing stored for a bad origin');
  t.equal(await store.getAccountByName('x'), null, 'nothing stored for usage errors');
  t.equal(await store.getAccountByName('k'), null, 'nothing stored for a bad agent key');
});

t.test('without --json the secret is printed once, with a warning to keep it', async (t) => {
  const dataDir = tmp(t);
  const r = await cli(['create', '--name', 'human', '--origin', normaliseOriginPattern('https://a.example.com')], dataDir);
  t.equal(r.code, 0);
  const m = /secret key:\s+(sk_\S+)/.exec(r.stdout);
  t.ok(m, 'secret key line');
  t.equal(r.stdout.split(m![1]).length - 1, 1, 'the secret appears exactly once');
  t.match(r.stdout, /shown once/);
});

t.test('list: every account with id, name, public key and origins, never a secret or its hash', async (t) => {
  const dataDir = tmp(t);
  const empty = await cli(['list', '--json'], dataDir);
  t.equal(empty.code, 0);
  t.same(JSON.parse(empty.stdout), [], 'no accounts yet');
  const created = JSON.parse((await cli(['create', '--name', 'Acme', '--origin', 'https://www.acme.com', '--json'], dataDir)).stdout);
  const r = await cli(['list', '--json'], dataDir);
  t.equal(r.code, 0, 'exit 0');
  const [listed, ...more] = JSON.parse(r.stdout);
  t.same(more, [], 'one account');
  t.match(listed, { accountId: created.accountId, name: 'Acme', publicKey: created.publicKey, origins: ['https://www.acme.com'], requireConsent: true, e2e: 'required' });
  const human = await cli(['list'], dataDir);
  t.match(human.stdout, created.accountId, 'the human form names the account id');
  t.match(human.stdout, /e2e:\s+required/, 'and its end-to-end encryption setting');
  for (const out of [r.stdout, human.stdout]) {
    t.notOk(out.includes(created.secretKey.split('.')[1]), 'no secret key');
    t.notOk(/scrypt/.test(out), 'no secret hash');
  }
  t.equal((await cli(['list', '--bogus'], dataDir)).code, 2, 'an unknown option: exit 2');
});

t.test('rotate-secret: a new key, shown once; the old one no longer verifies; bad use exits 2', async (t) => {
  const dataDir = tmp(t);
  const created = parseCreated(t, await cli(['create', '--name', 'rot', '--origin', 'https://a.example.com', '--json'], dataDir));
  const r = await cli(['rotate-secret', '--account', created.accountId, '--json'], dataDir);
  t.equal(r.code, 0, 'exit 0');
  const logLines = cleanErr(r.stderr).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; accountId: string });
  t.same(logLines.map((l) => [l.msg, l.accountId]), [['account secret rotated', created.accountId]], 'nothing on stderr but the rotation\'s log line');
  const out = JSON.parse(r.stdout.trim()) as { accountId: string; secretKey: string };
  t.equal(out.accountId, created.accountId);
  t.match(out.secretKey, new RegExp(`^sk_${created.accountId}\\.[A-Za-z0-9_-]{32}$`), 'a new key of the account');
  t.not(out.secretKey, created.secretKey);
  t.notMatch(r.stderr, /sk_/, 'the log line does not carry the key');
  const store = new SqliteStore(dataDir);
  const rec = await store.getAccountById(created.accountId);
  const entries = await store.listActivity(created.accountId, { type: 'secret_rotated', limit: 10 });
  await store.close();
  t.same(entries.items.map((e) => e.detail), ['secret key rotated over the account CLI'], 'the CLI rotation is in the activity log, as a REST one is');
  t.ok(await verifySecret(out.secretKey, rec!.secretHash), 'the new key verifies');
  t.notOk(await verifySecret(created.secretKey, rec!.secretHash), 'the old key does not');
  t.notOk(filesUnder(dataDir).some((f) => fs.readFileSync(f).includes(out.secretKey)), 'the new key is on no file');

  const human = await cli(['rotate-secret', '--account', created.accountId], dataDir);
  t.equal(human.code, 0);
  t.match(human.stdout, /secret key: +sk_/, 'human-readable output names the key');
  const unknown = await cli(['rotate-secret', '--account', 'acc_nosuchaccount01'], dataDir);
  t.equal(unknown.code, 1, 'an unknown account: exit 1');
  t.match(unknown.stderr, /no account/);
  t.equal((await cli(['rotate-secret'], dataDir)).code, 2, 'no --account: exit 2');
  t.equal((await cli(['rotate-secret', '--account', 'x', '--bogus'], dataDir)).code, 2, 'an unknown option: exit 2');
});
