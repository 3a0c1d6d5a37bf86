/**
 * Bench child: the real relay (uWebSockets.js) on a throw-away SQLite store, with one
 * consent-free account and agent tokens, reporting {port, publicKey, tokens} over IPC.
 * BENCH_DATA_DIR + BENCH_PORT (the idle/storm bench) keep the store, account and port across a
 * restart of the relay, as a deploy would. Store calls writing visitors are counted (bench only).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccountService } from '../../relay/accounts.ts';
import { mintAgentToken } from '../../relay/auth/agentToken.ts';
import { loadConfig } from '../../relay/config.ts';
import { createLogger } from '../../relay/log.ts';
import { startRelay } from '../../relay/server.ts';
import { SqliteStore } from '../../relay/store/sqlite.ts';
import { uwsIsNative } from '../../relay/uwsLoader.ts';
import { serveIpc, send } from './childCommon.ts';
import { AGENT_SLOTS, BENCH_ORIGIN } from './ipc.ts';

const keepData = Boolean(process.env.BENCH_DATA_DIR);
const dataDir = process.env.BENCH_DATA_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-bench-'));
const config = loadConfig({
  ...process.env,
  PORT: process.env.BENCH_PORT ?? '0',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  SEED_DEMO: '0',
  LOG_LEVEL: 'warn',
  VISITOR_MSGS_PER_SEC: '1000000',
  VISITOR_BYTES_PER_SEC: String(64 * 1024 * 1024 * 1024),
  AGENT_MSGS_PER_SEC: '100000',
  // Bench only: every generator connection comes from a few loopback addresses.
  MAX_CONNECTIONS_PER_IP: '200000',
  NEW_VISITORS_PER_MIN_PER_IP: '100000000',
  // The whole admission budget is the generators' (their few addresses are not many clients).
  ADMISSIONS_PER_SEC_PER_IP: process.env.ADMISSIONS_PER_SEC_PER_IP ?? '1000000',
  // A closed visitor is kept this long for its reconnect; short, so that the idle scenario's rounds do not overlap.
  VISITOR_GRACE_MS: process.env.VISITOR_GRACE_MS ?? '1000',
});
const sqlite = new SqliteStore(dataDir);
/** `rows_done`: rows whose store call has finished (the writes run in a worker thread, after the call). */
const writes = { visitor_store_calls_total: 0, visitor_store_rows_total: 0, visitor_store_rows_done_total: 0 };
const store = Object.create(sqlite) as SqliteStore;
store.upsertVisitors = async (batch) => {
  writes.visitor_store_calls_total++;
  writes.visitor_store_rows_total += batch.length;
  try {
    await sqlite.upsertVisitors(batch);
  } finally {
    writes.visitor_store_rows_done_total += batch.length;
  }
};
const accountFile = path.join(dataDir, 'bench-account.json');
const account: { accountId: string; publicKey: string } = fs.existsSync(accountFile)
  ? JSON.parse(fs.readFileSync(accountFile, 'utf8'))
  : await new AccountService(store).create({ name: 'bench', origins: [BENCH_ORIGIN], requireConsent: false });
if (keepData && !fs.existsSync(accountFile)) {
  // Written once, whole (renamed into place): several relays of one host read it as they start (idleHost.ts).
  fs.writeFileSync(`${accountFile}.${process.pid}`, JSON.stringify({ accountId: account.accountId, publicKey: account.publicKey }));
  fs.renameSync(`${accountFile}.${process.pid}`, accountFile);
}
const relay = await startRelay({ config, store, log: createLogger('warn') });
const tokens = Array.from({ length: AGENT_SLOTS }, (_, i) =>
  mintAgentToken(relay.ctx.relaySecret, { accountId: account.accountId, agentId: `a${i}`, name: `Bench ${i}`, ttlSec: 3600 }),
);

serveIpc({
  counters: () => ({ ...relay.ctx.metrics.counters, ...writes }),
  gauges: () => relay.ctx.metrics.gauges,
  stop: async () => {
    await relay.shutdown();
    if (!keepData) fs.rmSync(dataDir, { recursive: true, force: true });
  },
});
send({ type: 'ready', impl: 'uws', native: uwsIsNative, port: relay.port, publicKey: account.publicKey, tokens });
