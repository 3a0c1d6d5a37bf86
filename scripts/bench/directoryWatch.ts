/**
 * What a whole-cluster restart asks of the directory (relay/cluster/presence.ts) at scale, on its
 * own nats-server with nothing else running: how fast acknowledged KV puts go in (every tab is
 * re-put when its visitor reconnects), and how long it takes RELAYS connections to open their
 * watch (last value per key) and replay a bucket of TABS keys, all at once as restarted relays do.
 * With SHARDS > 1 the keys are spread over that many buckets, each relay watching all of them:
 * the question was whether smaller buckets make the watches cheaper (bench/RESULTS.md, "Twelfth pass").
 *
 *   npx tsx scripts/bench/directoryWatch.ts [tabs=100000] [shards=1] [relays=8]
 */
import { connect, StorageType, type NatsConnection } from 'nats';
import { startBenchNats } from './natsServer.ts';

const TABS = Number(process.argv[2] ?? 100_000);
const SHARDS = Number(process.argv[3] ?? 1);
const RELAYS = Number(process.argv[4] ?? 8);
const WINDOW = 2000; // puts in flight, as a relay's reconnecting visitors would have them
const VALUE = JSON.stringify({ node: 'relay-host-12345-abcdef', url: 'https://shop.example.com/products/item-123?ref=campaign' });

const nats = await startBenchNats('dirwatch');
const bucket = (s: number) => `bench-presence-${s}`;
const open = (nc: NatsConnection, s: number) => nc.jetstream().views.kv(bucket(s), { history: 1, ttl: 900_000, storage: StorageType.Memory });

try {
  const writer = await connect({ servers: nats.url });
  const kvs = await Promise.all(Array.from({ length: SHARDS }, (_, s) => open(writer, s)));
  // Every key written twice (a reconnect after a restart re-puts it): the stream's sequence range is
  // then sparse, as the live bucket's is.
  const t0 = performance.now();
  for (let round = 0; round < 2; round++) {
    const inFlight: Array<Promise<unknown>> = [];
    for (let i = 0; i < TABS; i++) {
      inFlight.push(kvs[i % SHARDS].put(`tab.acc_bench.v${i}.t${i}`, VALUE));
      if (inFlight.length >= WINDOW) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
  }
  const putMs = performance.now() - t0;

  const relays = await Promise.all(Array.from({ length: RELAYS }, () => connect({ servers: nats.url })));
  const t1 = performance.now();
  const outcomes = await Promise.all(relays.map(async (nc) => {
    const start = performance.now();
    let entries = 0;
    try {
      await Promise.all(Array.from({ length: SHARDS }, async (_, s) => {
        const kv = await open(nc, s);
        let initialised!: () => void;
        const done = new Promise<void>((r) => (initialised = r));
        const it = await kv.watch({ key: '>', initializedFn: () => initialised() });
        void (async () => {
          for await (const _ of it) entries++;
        })();
        await done;
      }));
      return { ms: performance.now() - start, entries, error: '' };
    } catch (err) {
      return { ms: performance.now() - start, entries, error: (err as Error).message };
    }
  }));
  const allMs = performance.now() - t1;
  const ok = outcomes.filter((o) => !o.error);
  const each = ok.map((o) => o.ms).sort((a, b) => a - b);
  console.log(`| tabs | buckets | relays | acked puts/s (2 × tabs) | all watches replayed, s | one relay's watch, s (min–max) | relays that failed |`);
  console.log(`|---:|---:|---:|---:|---:|---|---|`);
  console.log(`| ${TABS} | ${SHARDS} | ${RELAYS} | ${Math.round((2 * TABS) / (putMs / 1000))} | ${ok.length === RELAYS ? (allMs / 1000).toFixed(1) : '–'} | ${each.length ? `${(each[0] / 1000).toFixed(1)}–${(each[each.length - 1] / 1000).toFixed(1)}` : '–'} | ${RELAYS - ok.length}${outcomes.find((o) => o.error) ? ` (${outcomes.find((o) => o.error)!.error})` : ''} |`);
  const short = ok.filter((o) => o.entries < TABS).length;
  if (short) console.log(`${short} relays' replicas held fewer than ${TABS} entries when their watch said it was replayed`);
  await Promise.all([writer, ...relays].map((nc) => nc.close()));
} finally {
  nats.stop();
}
