/** `relay/main.ts` in cluster mode refuses to start without RELAY_SECRET, and says so when NATS is unreachable. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { freePort } from '../../helpers/relay.ts';

function run(env: Record<string, string>): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'relay/main.ts'], {
      env: { ...process.env, HOST: '127.0.0.1', SEED_DEMO: '0', DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-start-')), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stdout!.on('data', (c) => (err += c));
    child.stderr!.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, err });
    });
  });
}

t.test('NATS_URL without RELAY_SECRET: refuses to start, exit 2, names the variable', async (t) => {
  const r = await run({ PORT: String(await freePort()), NATS_URL: 'nats://127.0.0.1:4222' });
  t.equal(r.code, 2);
  t.match(r.err, /configuration error: RELAY_SECRET must be set \(the same on every relay\) when NATS_URL turns cluster mode on/);
});

t.test('NATS unreachable at start: exits with a clear message instead of listening', async (t) => {
  const dead = await freePort();
  const r = await run({ PORT: String(await freePort()), NATS_URL: `nats://127.0.0.1:${dead}`, RELAY_SECRET: 'y'.repeat(40) });
  t.equal(r.code, 1);
  t.match(r.err, new RegExp(`relay failed to start: cannot connect to NATS at nats://127.0.0.1:${dead}`));
});

t.test('NATS unreachable with credentials in NATS_URL: the message names the server, never the password', async (t) => {
  const dead = await freePort();
  const r = await run({ PORT: String(await freePort()), NATS_URL: `nats://relay:CANARYnatsPass77@127.0.0.1:${dead}`, RELAY_SECRET: 'y'.repeat(40) });
  t.equal(r.code, 1);
  t.match(r.err, new RegExp(`cannot connect to NATS at nats://\\*\\*\\*@127.0.0.1:${dead}`));
  t.notMatch(r.err, /CANARYnatsPass77/, 'the password is in no output');
});
