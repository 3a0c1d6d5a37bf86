/**
 * `npm run bench:cluster`: cluster mode's cost, against the single-relay path in the same run.
 * Starts its own nats-server and two relay processes in cluster mode (A, B) sharing one SQLite
 * DATA_DIR; ws clients in this process. Rows:
 *  - 1 KB 1→5 at a fixed rate, agents on the visitor's relay vs on the other relay: relay CPU per
 *    delivery on each relay and p50/p99 latency (the hop's cost = the difference);
 *  - 5 MB snapshot 1→5, same relay vs across relays: time until all five agents have it;
 *  - sessions on one relay vs twice the sessions spread over two relays: CPU and p99 per relay.
 * Figures and method: bench/RESULTS.md, "Cluster mode".
 *
 *   npx tsx scripts/bench/cluster.ts [--quick]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { AGENT_SOCKET_PATH, agentProtocols, VISITOR_SOCKET_PATH } from '../../protocol/index.ts';
import { AccountService } from '../../relay/accounts.ts';
import { mintAgentToken } from '../../relay/auth/agentToken.ts';
import { SqliteStore } from '../../relay/store/sqlite.ts';
import { freePort } from './freePort.ts';

const QUICK = process.argv.includes('--quick');
const ORIGIN = 'https://bench.example.com';
const KiB = 1024;
const MiB = 1024 * KiB;
const CLK_TCK = 100;
const ROOT = path.resolve(import.meta.dirname, '../..');

const sleepUntil = async (check: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};
const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
/** CPU seconds (user + system) a process has used. */
function cpuSec(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

// ---------------------------------------------------------------- the cluster
const natsPort = await freePort();
const natsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterbench-nats-'));
const nats = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', natsDir], { stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise<void>((resolve) => {
  let err = '';
  nats.stderr!.on('data', (c: Buffer) => ((err += c), /Server is ready/.test(err) && resolve()));
});
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterbench-data-'));
const relaySecret = crypto.randomBytes(32).toString('base64url');
const store = new SqliteStore(dataDir);
const account = await new AccountService(store).create({ name: 'bench', origins: [ORIGIN], requireConsent: false });
await store.close();
const token = (i: number) => mintAgentToken(Buffer.from(relaySecret, 'utf8'), { accountId: account.accountId, agentId: `a${i}`, name: `A${i}`, ttlSec: 3600 });

interface Relay { name: string; port: number; child: ChildProcess }
async function startRelay(name: string): Promise<Relay> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, PUBLIC_URL: `http://127.0.0.1:${port}`,
      SEED_DEMO: '0', LOG_LEVEL: 'warn', NATS_URL: `nats://127.0.0.1:${natsPort}`, NODE_ID: name, RELAY_SECRET: relaySecret,
      VISITOR_MSGS_PER_SEC: '1000000', VISITOR_BYTES_PER_SEC: String(64 * 1024 * MiB), AGENT_MSGS_PER_SEC: '100000',
      MAX_CONNECTIONS_PER_IP: '10000', NEW_VISITORS_PER_MIN_PER_IP: '100000', ADMISSIONS_PER_SEC_PER_IP: '1000000', ACTIVITY_PER_MIN_PER_IP: '100000', ACTIVITY_PER_MIN_PER_ACCOUNT: '100000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (const deadline = Date.now() + 30_000; ;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`relay ${name} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name, port, child };
}
const A = await startRelay('A');
const B = await startRelay('B');

// ---------------------------------------------------------------- clients
interface Agent { ws: WebSocket; lat: number[]; got: number; lastSeq: number; outOfOrder: number }
/** Text messages kept from the moment the socket exists (the relay speaks first). */
const inbox = new WeakMap<WebSocket, Array<Record<string, any>>>();
function open(url: string, opts: WebSocket.ClientOptions, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    const texts: Array<Record<string, any>> = [];
    inbox.set(ws, texts);
    ws.on('message', (d, bin) => {
      if (!bin) texts.push(JSON.parse(String(d)));
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
async function nextText(ws: WebSocket, t: string, ms = 10_000): Promise<Record<string, any>> {
  const texts = inbox.get(ws)!;
  let found: Record<string, any> | undefined;
  await sleepUntil(() => {
    const i = texts.findIndex((m) => m.t === t);
    if (i < 0) return false;
    found = texts.splice(i, 1)[0];
    return true;
  }, ms, t);
  return found!;
}
let agentSeq = 0;
async function session(visitorOn: Relay, agentsOn: Relay[]): Promise<{ visitor: WebSocket; agents: Agent[]; close(): void }> {
  const visitor = await open(`ws://127.0.0.1:${visitorOn.port}${VISITOR_SOCKET_PATH}?key=${account.publicKey}`, { headers: { origin: ORIGIN } });
  const welcome = await nextText(visitor, 'welcome');
  // The directory is a replica: wait until the agents' relays see the visitor.
  const agents: Agent[] = [];
  for (const r of agentsOn) {
    const ws = await open(`ws://127.0.0.1:${r.port}${AGENT_SOCKET_PATH}`, {}, agentProtocols(token(agentSeq++)));
    await nextText(ws, 'ready');
    const a: Agent = { ws, lat: [], got: 0, lastSeq: -1, outOfOrder: 0 };
    ws.on('message', (d: Buffer, bin) => {
      if (!bin) return;
      const seq = d.readUInt32LE(1);
      if (seq !== a.lastSeq + 1 && a.lastSeq >= 0) a.outOfOrder++;
      a.lastSeq = seq;
      a.got++;
      a.lat.push(performance.now() - d.readDoubleLE(5));
    });
    const texts = inbox.get(ws)!;
    for (let i = 0; ; i++) {
      texts.length = 0;
      ws.send(JSON.stringify({ t: 'join', visitorId: welcome.visitorId }));
      await sleepUntil(() => texts.some((m) => m.t === 'joined' || m.t === 'refused'), 10_000, 'join answer');
      if (texts.some((m) => m.t === 'joined')) break;
      if (i > 200) throw new Error('join refused');
      await new Promise((r) => setTimeout(r, 20));
    }
    agents.push(a);
  }
  return { visitor, agents, close: () => [visitor, ...agents.map((a) => a.ws)].forEach((w) => w.close()) };
}
function frameOf(kind: number, seq: number, size: number): Buffer {
  const b = Buffer.alloc(Math.max(size, 13), 0x61);
  b[0] = kind;
  b.writeUInt32LE(seq, 1);
  b.writeDoubleLE(performance.now(), 5);
  return b;
}
const cpu = () => ({ A: cpuSec(A.child.pid!), B: cpuSec(B.child.pid!) });

// ---------------------------------------------------------------- scenarios
interface Row { row: string; values: Record<string, string> }
const rows: Row[] = [];
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '–');

async function rateRun(label: string, agentsOn: Relay[], rate: number, ms: number) {
  const s = await session(A, agentsOn);
  // Warm-up: until every agent receives.
  let seq = 0;
  await sleepUntil(() => (s.visitor.send(frameOf(2, seq++, KiB)), s.agents.every((a) => a.got > 0)), 10_000, 'warm-up');
  await new Promise((r) => setTimeout(r, 200));
  for (const a of s.agents) (a.lat.length = 0), (a.got = 0), (a.lastSeq = -1);
  seq = 0;
  const c0 = cpu();
  const t0 = performance.now();
  const total = Math.round((rate * ms) / 1000);
  while (seq < total) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (seq < Math.min(due, total)) s.visitor.send(frameOf(2, seq++, KiB));
    await new Promise((r) => setTimeout(r, 1));
  }
  await sleepUntil(() => s.agents.every((a) => a.got >= total), 15_000, 'all frames delivered').catch(() => {});
  const c1 = cpu();
  const deliveries = s.agents.reduce((n, a) => n + a.got, 0);
  const lat = s.agents.flatMap((a) => a.lat);
  const ooo = s.agents.reduce((n, a) => n + a.outOfOrder, 0);
  rows.push({
    row: label,
    values: {
      deliveries: String(deliveries),
      'p50 ms': f1(pct(lat, 50)),
      'p99 ms': f1(pct(lat, 99)),
      'A µs CPU/delivery': f1(((c1.A - c0.A) * 1e6) / deliveries),
      'B µs CPU/delivery': f1(((c1.B - c0.B) * 1e6) / deliveries),
      'out of order': String(ooo),
    },
  });
  s.close();
}

async function snapshotRun(label: string, agentsOn: Relay[], count: number) {
  const s = await session(A, agentsOn);
  let seq = 0;
  await sleepUntil(() => (s.visitor.send(frameOf(2, seq++, KiB)), s.agents.every((a) => a.got > 0)), 10_000, 'warm-up');
  const times: number[] = [];
  const c0 = cpu();
  for (let i = 0; i < count; i++) {
    const before = s.agents.map((a) => a.got);
    const t0 = performance.now();
    s.visitor.send(frameOf(1, seq++, 5 * MiB));
    await sleepUntil(() => s.agents.every((a, j) => a.got > before[j]), 30_000, '5 MB snapshot');
    times.push(performance.now() - t0);
  }
  const c1 = cpu();
  rows.push({
    row: label,
    values: {
      deliveries: String(count * s.agents.length),
      'p50 ms': f1(pct(times, 50)),
      'p99 ms': f1(pct(times, 99)),
      'A µs CPU/delivery': f1(((c1.A - c0.A) * 1e6) / (count * s.agents.length)),
      'B µs CPU/delivery': f1(((c1.B - c0.B) * 1e6) / (count * s.agents.length)),
      'out of order': '0',
    },
  });
  s.close();
}

async function spreadRun(label: string, layout: Array<[Relay, Relay]>, rate: number, ms: number) {
  const sessions: Array<Awaited<ReturnType<typeof session>>> = [];
  for (const [v, a] of layout) sessions.push(await session(v, [a]));
  let seq = 0;
  await sleepUntil(() => (sessions.forEach((s) => s.visitor.send(frameOf(2, seq, KiB))), seq++, sessions.every((s) => s.agents[0].got > 0)), 15_000, 'warm-up');
  for (const s of sessions) (s.agents[0].lat.length = 0), (s.agents[0].got = 0), (s.agents[0].lastSeq = -1);
  const c0 = cpu();
  const t0 = performance.now();
  const total = Math.round((rate * ms) / 1000);
  seq = 0;
  while (seq < total) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; seq < Math.min(due, total); seq++) for (const s of sessions) s.visitor.send(frameOf(2, seq, KiB));
    await new Promise((r) => setTimeout(r, 1));
  }
  await sleepUntil(() => sessions.every((s) => s.agents[0].got >= total), 15_000, 'spread delivered').catch(() => {});
  const secs = (performance.now() - t0) / 1000;
  const c1 = cpu();
  const lat = sessions.flatMap((s) => s.agents[0].lat);
  rows.push({
    row: label,
    values: {
      deliveries: String(sessions.reduce((n, s) => n + s.agents[0].got, 0)),
      'p50 ms': f1(pct(lat, 50)),
      'p99 ms': f1(pct(lat, 99)),
      'A µs CPU/delivery': `${f1(((c1.A - c0.A) / secs) * 100)} % CPU`,
      'B µs CPU/delivery': `${f1(((c1.B - c0.B) / secs) * 100)} % CPU`,
      'out of order': '0',
    },
  });
  for (const s of sessions) s.close();
}

const MS = QUICK ? 1500 : 5000;
const RATE = 1000;
await rateRun(`1 KB 1→5 @${RATE}/s, agents on the visitor's relay (A)`, [A, A, A, A, A], RATE, MS);
await rateRun(`1 KB 1→5 @${RATE}/s, agents on the other relay (B)`, [B, B, B, B, B], RATE, MS);
const SNAPS = QUICK ? 3 : 10;
await snapshotRun('5 MB snapshot 1→5, same relay', [A, A, A, A, A], SNAPS);
await snapshotRun('5 MB snapshot 1→5, across relays', [B, B, B, B, B], SNAPS);
const N = QUICK ? 10 : 40;
const PER = 50;
await spreadRun(`${N} sessions on A (1 KB @${PER}/s each)`, Array.from({ length: N }, () => [A, A] as [Relay, Relay]), PER, MS);
await spreadRun(`${2 * N} sessions, half on A half on B`, Array.from({ length: 2 * N }, (_, i) => (i % 2 ? [B, B] : [A, A]) as [Relay, Relay]), PER, MS);

const cols = ['deliveries', 'p50 ms', 'p99 ms', 'A µs CPU/delivery', 'B µs CPU/delivery', 'out of order'];
console.log(`cluster bench (${QUICK ? 'quick' : 'full'}): ${os.cpus().length} cores, ${os.cpus()[0]?.model}, node ${process.version}; relays and clients share the machine`);
console.log(`| scenario | ${cols.join(' | ')} |`);
console.log(`|---|${cols.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${r.row} | ${cols.map((c) => r.values[c]).join(' | ')} |`);

for (const r of [A, B]) r.child.kill('SIGTERM');
await Promise.all([A, B].map((r) => new Promise((res) => r.child.once('exit', res))));
nats.kill();
fs.rmSync(dataDir, { recursive: true, force: true });
fs.rmSync(natsDir, { recursive: true, force: true });
