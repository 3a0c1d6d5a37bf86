/**
 * Directory choice for cluster mode, measured: a JetStream KV bucket watched into a local replica
 * (what relay/cluster/presence.ts does) against request/reply scatter-gather (ask every relay per
 * lookup). Starts its own nats-server; three NATS connections stand for three relays, each holding
 * TABS/3 tabs. Prints lookup latency (p50/p99) and throughput for both, and the replica's
 * propagation delay (put on one relay → visible in another's replica).
 *
 *   npx tsx scripts/bench/directory.ts [tabs=30000] [lookups=5000]
 */
import os from 'node:os';
import { connect, StorageType, type NatsConnection } from 'nats';
import { startBenchNats } from './natsServer.ts';

const TABS = Number(process.argv[2] ?? 30_000);
const LOOKUPS = Number(process.argv[3] ?? 5000);
const RELAYS = 3;

const nats = await startBenchNats('dirbench');

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const conns: NatsConnection[] = [];
for (let i = 0; i < RELAYS; i++) conns.push(await connect({ servers: nats.url }));
const visitorOf = (i: number) => `v${i}`;

// ---- A: KV + watched replica
const kvs = await Promise.all(conns.map((nc) => nc.jetstream().views.kv('bench-presence', { history: 1, ttl: 30_000, storage: StorageType.Memory })));
const replica = new Map<string, string>();
const seenAt = new Map<string, number>();
const it = await kvs[1].watch({ key: '>' });
(async () => {
  for await (const e of it) {
    if (e.operation === 'PUT') {
      replica.set(e.key.split('.')[1], e.string());
      seenAt.set(e.key, performance.now());
    }
  }
})();
let t0 = performance.now();
// In windows of 500 outstanding puts (a relay re-puts its tabs the same way, not all at once).
for (let from = 0; from < TABS; from += 500) {
  const puts: Array<Promise<unknown>> = [];
  for (let i = from; i < Math.min(TABS, from + 500); i++) puts.push(kvs[i % RELAYS].put(`tab.${visitorOf(i)}.t`, JSON.stringify({ node: `r${i % RELAYS}`, url: 'https://shop.example.com/p' })));
  await Promise.all(puts);
}
const putMs = performance.now() - t0;
while (replica.size < TABS) await new Promise((r) => setTimeout(r, 10));
const fillMs = performance.now() - t0;
// Propagation: single puts, time until the other relay's replica has them.
const prop: number[] = [];
for (let i = 0; i < 200; i++) {
  const key = `tab.p${i}.t`;
  const s = performance.now();
  await kvs[0].put(key, '{"node":"r0","url":""}');
  while (!seenAt.has(key)) await new Promise((r) => setImmediate(r));
  prop.push(seenAt.get(key)! - s);
}
const replicaLat: number[] = [];
t0 = performance.now();
for (let i = 0; i < LOOKUPS; i++) {
  const s = performance.now();
  replica.get(visitorOf((i * 7919) % TABS));
  replicaLat.push(performance.now() - s);
}
const replicaRate = LOOKUPS / ((performance.now() - t0) / 1000);

// ---- B: request/reply scatter-gather, each relay answering from its own map
const local = conns.map(() => new Map<string, string>());
for (let i = 0; i < TABS; i++) local[i % RELAYS].set(visitorOf(i), `r${i % RELAYS}`);
conns.forEach((nc, i) => nc.subscribe('bench.dir', { callback: (_e, m) => m.respond(new TextEncoder().encode(local[i].get(new TextDecoder().decode(m.data)) ?? '')) }));
await Promise.all(conns.map((nc) => nc.flush()));
const sgLat: number[] = [];
t0 = performance.now();
for (let i = 0; i < LOOKUPS; i++) {
  const s = performance.now();
  const it2 = await conns[1].requestMany('bench.dir', new TextEncoder().encode(visitorOf((i * 7919) % TABS)), { maxMessages: RELAYS, maxWait: 1000 });
  let n = 0;
  for await (const _m of it2) if (++n === RELAYS) break;
  sgLat.push(performance.now() - s);
}
const sgRate = LOOKUPS / ((performance.now() - t0) / 1000);

const f = (n: number) => (n < 0.1 ? n.toFixed(4) : n.toFixed(2));
console.log(`directory bench: ${TABS} tabs on ${RELAYS} relays, ${LOOKUPS} lookups, ${os.cpus().length} cores, nats-server ${conns[0].info?.version}`);
console.log('| approach | lookup p50 ms | lookup p99 ms | lookups/s (one caller) | other |');
console.log('|---|---|---|---|---|');
console.log(`| KV + watched replica | ${f(pct(replicaLat, 50))} | ${f(pct(replicaLat, 99))} | ${Math.round(replicaRate)} | ${TABS} puts in ${Math.round(putMs)} ms; replica full after ${Math.round(fillMs)} ms; put→replica p50 ${f(pct(prop, 50))} ms, p99 ${f(pct(prop, 99))} ms |`);
console.log(`| request/reply to ${RELAYS} relays | ${f(pct(sgLat, 50))} | ${f(pct(sgLat, 99))} | ${Math.round(sgRate)} | one round to every relay per lookup |`);
it.stop();
await Promise.all(conns.map((nc) => nc.close()));
nats.stop();
