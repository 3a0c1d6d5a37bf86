/**
 * `npm run cluster`: a local demo of cluster mode. Three relays on three ports (CLUSTER_PORTS,
 * default 8081,8082,8083) against the local NATS (NATS_URL, default nats://127.0.0.1:4222), sharing
 * one SQLite DATA_DIR (default ./data-cluster) and one RELAY_SECRET (generated into it once). The
 * demo page is served by the first relay (the visitor lands there); the agent link points at the
 * second, so what you watch crosses relays. Ctrl-C stops all three (SIGTERM, 1012).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const natsUrl = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const ports = (process.env.CLUSTER_PORTS || '8081,8082,8083').split(',').map(Number);
const dataDir = path.resolve(process.env.DATA_DIR || './data-cluster');

const nats = new URL(natsUrl.replace(/^nats:/, 'http:'));
const reachable = await new Promise<boolean>((r) => {
  const s = net.connect(Number(nats.port || 4222), nats.hostname, () => (s.end(), r(true)));
  s.on('error', () => r(false));
});
if (!reachable) {
  console.error(`No NATS at ${natsUrl}. Start one with JetStream, e.g.:\n  nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/nats\n(Debian: apt-get install nats-server)`);
  process.exit(2);
}
fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
const secretFile = path.join(dataDir, 'cluster-relay-secret');
if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, crypto.randomBytes(32).toString('base64url'), { mode: 0o600 });
const relaySecret = fs.readFileSync(secretFile, 'utf8').trim();

const children: ChildProcess[] = [];
function start(i: number, seedDemo: boolean): Promise<string> {
  const port = ports[i];
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/main.ts'], {
    env: {
      ...process.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://localhost:${port}`, DATA_DIR: dataDir,
      NATS_URL: natsUrl, NODE_ID: `relay${i + 1}`, RELAY_SECRET: relaySecret, SEED_DEMO: seedDemo ? '1' : '0', LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  children.push(child);
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (!seedDemo) process.stderr.write(c);
    });
    child.once('exit', (code) => reject(new Error(`relay ${i + 1} exited (${code}):\n${err}`)));
    const poll = setInterval(async () => {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 && (!seedDemo || /Agent viewer:.*\n/.test(err))) {
          clearInterval(poll);
          resolve(err);
        }
      } catch { /* not yet */ }
    }, 100);
  });
}

process.on('SIGINT', () => children.forEach((c) => c.kill('SIGTERM')));
process.on('SIGTERM', () => children.forEach((c) => c.kill('SIGTERM')));
const banner = await start(0, true);
await start(1, false);
await start(2, false);
const token = /#token=(\S+)/.exec(banner)?.[1];
const secret = /Demo secret key[^:]*:\s+(\S+)/.exec(banner)?.[1];
console.log([
  '',
  `  Three relays in cluster mode on NATS ${natsUrl} (data: ${dataDir})`,
  `  relay1 http://localhost:${ports[0]}   relay2 http://localhost:${ports[1]}   relay3 http://localhost:${ports[2]}`,
  '  DEMO ONLY: the links carry a demo agent token.',
  `  Visitor (demo page, on relay1):  http://localhost:${ports[0]}/demo/`,
  `  Agent viewer (on relay2):        http://localhost:${ports[1]}/agent/#token=${token}`,
  `  Agent viewer (on relay3):        http://localhost:${ports[2]}/agent/#token=${token}`,
  secret ? `  Demo secret key (shown once): ${secret}` : '  (the demo secret key was shown on the first start only)',
  '  Ctrl-C stops all three.',
  '',
].join('\n'));
await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
