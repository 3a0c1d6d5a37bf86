/** Starts a real relay on a loopback port with a fresh DATA_DIR, for tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { AccountService, type CreatedAccount } from '../../relay/accounts.ts';
import { mintAgentToken } from '../../relay/auth/agentToken.ts';
import { loadConfig } from '../../relay/config.ts';
import { createLogger } from '../../relay/log.ts';
import { startRelay, type Relay } from '../../relay/server.ts';
import { SqliteStore } from '../../relay/store/sqlite.ts';
import type { Store } from '../../relay/store/types.ts';

export const SITE_ORIGIN = 'https://shop.example.com';
export const OTHER_ORIGIN = 'https://other.example.net';
/** The METRICS_TOKEN test relays run with (unless a test sets its own). */
export const TEST_METRICS_TOKEN = 'test-metrics-token-0123456789abcdef';

export interface TestRelay {
  relay: Relay;
  port: number;
  dataDir: string;
  logFile: string;
  /** Consent required. */
  acme: CreatedAccount;
  /** Consent turned off. */
  open: CreatedAccount;
  /** Another customer. */
  other: CreatedAccount;
  token(account: CreatedAccount, agentId: string, name?: string, ttlSec?: number): string;
  /** GET /metrics with the metrics token: the Prometheus text. */
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

export interface TestRelayOptions {
  /** Wraps the real SQLite store (fault injection for outage tests). */
  wrapStore?: (store: Store) => Store;
  now?: () => Date;
  /** Extra allowed origins for acme (e.g. a fixture site on another loopback port). */
  siteOrigins?: string[];
  /** Start again on a stopped relay's DATA_DIR and accounts (same keys, same relay secret). */
  restartOf?: TestRelay;
  /**
   * acme's and open's E2E setting. Off here (unlike a new account's default, `required`) because
   * most tests read frames with scripted agents that hold no key; test/e2e/e2ee/ sets `required`.
   */
  e2e?: 'required' | 'off';
}

export async function startTestRelay(env: Record<string, string> = {}, opts: TestRelayOptions = {}): Promise<TestRelay> {
  const dataDir = opts.restartOf?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-test-'));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-log-'));
  const logFile = path.join(logDir, 'relay.log');
  const logStream = fs.createWriteStream(logFile);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    PUBLIC_URL: 'http://relay.test',
    LOG_LEVEL: 'debug',
    METRICS_TOKEN: TEST_METRICS_TOKEN,
    ...env,
  });
  const store = new SqliteStore(dataDir);
  const accounts = new AccountService(store);
  const prev = opts.restartOf;
  const acme = prev?.acme ?? await accounts.create({ name: 'acme', origins: [SITE_ORIGIN, new URL(config.publicUrl).origin, ...(opts.siteOrigins ?? [])], requireConsent: true, e2e: opts.e2e ?? 'off' });
  const open = prev?.open ?? await accounts.create({ name: 'open', origins: [SITE_ORIGIN, ...(opts.siteOrigins ?? [])], requireConsent: false, e2e: opts.e2e ?? 'off' });
  const other = prev?.other ?? await accounts.create({ name: 'other', origins: [OTHER_ORIGIN], requireConsent: false, e2e: opts.e2e ?? 'off' });
  const log = createLogger('debug', logStream as unknown as Writable);
  const relay = await startRelay({ config, store: opts.wrapStore ? opts.wrapStore(store) : store, log, now: opts.now, templateVars: { demoPublicKey: acme.publicKey } });
  return {
    relay,
    port: relay.port,
    dataDir,
    logFile,
    acme,
    open,
    other,
    token: (account, agentId, name = agentId, ttlSec = 3600) =>
      mintAgentToken(relay.ctx.relaySecret, { accountId: account.accountId, agentId, name, ttlSec }),
    async metricsText() {
      const res = await fetch(`http://127.0.0.1:${relay.port}/metrics`, { headers: { authorization: `Bearer ${config.metricsToken}` } });
      if (res.status !== 200) throw new Error(`GET /metrics: HTTP ${res.status}`);
      return res.text();
    },
    async stop() {
      await relay.shutdown();
      await new Promise<void>((r) => logStream.end(r));
    },
  };
}

/** A free loopback port, for tests that must know the relay's URL before it starts. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Every file under a directory, recursively. */
export function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile());
}
