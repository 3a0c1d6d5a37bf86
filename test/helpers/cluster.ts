/**
 * A real cluster for end-to-end tests: its OWN nats-server (JetStream, a temp store dir, a free
 * port; restartable) and N relay processes (`relay/main.ts`, as operators run it) sharing one
 * SQLite DATA_DIR and one RELAY_SECRET. Readiness is waited on (a /readyz poll with a deadline),
 * never slept for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccountService, type CreatedAccount } from '../../relay/accounts.ts';
import { mintAgentToken, secretGeneration } from '../../relay/auth/agentToken.ts';
import { SqliteStore } from '../../relay/store/sqlite.ts';
import { freePort, SITE_ORIGIN, TEST_METRICS_TOKEN } from './relay.ts';
import { until } from './until.ts';

export { until };

/** Debian's nats-server (`apt-get install nats-server`; `.ci/run` installs it), or NATS_SERVER_BIN. */
export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN || '/usr/sbin/nats-server';

export class NatsServer {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  readonly storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-nats-'));
  /** Off: a server without JetStream (the relay's buckets cannot open); applies at the next start. */
  jetstream = true;
  private constructor(readonly port: number) {}

  static async start(): Promise<NatsServer> {
    const s = new NatsServer(await freePort());
    await s.start();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** (Re)starts the server on the same port and store dir; resolves when it accepts connections. */
  async start(): Promise<void> {
    if (!fs.existsSync(NATS_SERVER_BIN)) throw new Error(`cluster tests need nats-server at ${NATS_SERVER_BIN} (apt-get install nats-server, or set NATS_SERVER_BIN): not found`);
    const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), ...(this.jetstream ? ['-js', '-sd', this.storeDir] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    let err = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${err}`)), 15_000);
      child.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        if (/Server is ready/.test(err)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`nats-server exited (${code}):\n${err}`)));
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child && this.child.exitCode === null) this.child.kill(signal);
    await this.exited;
  }
}

export interface RelayProc {
  name: string;
  port: number;
  base: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Everything it printed (JSON log lines). */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<number | null>;
  metrics(): Promise<Record<string, number>>;
}

export interface TestCluster {
  nats: NatsServer;
  dataDir: string;
  relaySecret: string;
  relays: RelayProc[];
  /** Consent required. */
  acme: CreatedAccount;
  /** Consent off. */
  open: CreatedAccount;
  token(account: CreatedAccount, agentId: string, name?: string, opts?: { generation?: boolean }): Promise<string>;
  /** Starts (or restarts) relay `name` on its port. */
  startRelay(name: string, port?: number, env?: Record<string, string>, onOutput?: (all: string) => void): Promise<RelayProc>;
  stop(): Promise<void>;
}

export async function startCluster(names: string[], env: Record<string, string> = {}): Promise<TestCluster> {
  const nats = await NatsServer.start();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-cluster-'));
  const relaySecret = crypto.randomBytes(32).toString('base64url');
  const store = new SqliteStore(dataDir);
  const accounts = new AccountService(store);
  const acme = await accounts.create({ name: 'acme', origins: [SITE_ORIGIN], requireConsent: true });
  const open = await accounts.create({ name: 'open', origins: [SITE_ORIGIN], requireConsent: false });
  await store.close();
  const relays: RelayProc[] = [];

  const startRelay = async (name: string, port?: number, extra: Record<string, string> = {}, onOutput?: (all: string) => void): Promise<RelayProc> => {
    port ??= await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'relay/main.ts'], {
      env: {
        ...process.env,
        PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, PUBLIC_URL: base, SEED_DEMO: '0', LOG_LEVEL: 'info',
        NATS_URL: nats.url, NODE_ID: name, RELAY_SECRET: relaySecret, METRICS_TOKEN: TEST_METRICS_TOKEN,
        ...env, ...extra,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const take = (c: Buffer) => {
      out += c.toString();
      onOutput?.(out);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    // 'close': after the exit and the end of its output (an early exit's reason is in the output).
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    let dead = false;
    exited.then(() => (dead = true));
    await until(async () => {
      if (dead) throw new Error(`relay ${name} exited while starting:\n${out}`);
      try {
        return (await fetch(`${base}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, 30_000, `relay ${name} ready`, 50);
    const proc: RelayProc = {
      name, port, base, child, exited,
      output: () => out,
      async kill(signal) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        return exited;
      },
      async metrics() {
        const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } });
        const text = await res.text();
        const out: Record<string, number> = {};
        for (const m of text.matchAll(/^cobrowse_(\w+) (\S+)$/gm)) out[m[1]] = Number(m[2]);
        return out;
      },
    };
    const i = relays.findIndex((r) => r.name === name);
    if (i >= 0) relays[i] = proc;
    else relays.push(proc);
    return proc;
  };

  for (const n of names) await startRelay(n);

  return {
    nats, dataDir, relaySecret, relays, acme, open, startRelay,
    async token(account, agentId, name = agentId, opts = {}) {
      let generation: string | undefined;
      if (opts.generation) {
        const s = new SqliteStore(dataDir);
        const rec = await s.getAccountById(account.accountId);
        await s.close();
        generation = rec ? secretGeneration(rec.secretHash) : undefined;
      }
      return mintAgentToken(Buffer.from(relaySecret, 'utf8'), { accountId: account.accountId, agentId, name, ttlSec: 3600, secretGeneration: generation });
    },
    async stop() {
      await Promise.all(relays.map((r) => r.kill('SIGTERM')));
      await nats.stop();
    },
  };
}
