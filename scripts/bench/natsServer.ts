/** A private nats-server (JetStream, a temporary store) for a bench, on a free loopback port. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './freePort.ts';

export async function startBenchNats(name: string): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-nats-`));
  const server = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    server.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${err}`)));
    server.stderr!.on('data', (c: Buffer) => {
      err += c;
      if (/Server is ready/.test(err)) resolve();
    });
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: () => {
      server.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
