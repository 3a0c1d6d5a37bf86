/**
 * The idle visitor: what an admitted, unwatched visitor socket costs a relay. Opens `visitors`
 * sockets (each waits for its `welcome`), then reads the relay's RSS and V8 heap after a forced GC,
 * and its CPU over the connects. Figures are per visitor: (after − before) ÷ visitors.
 */
import { nowMs, Visitor } from './load.ts';
import type { RelayHandle } from './relayHandle.ts';

export interface IdleResult {
  visitors: number;
  /** Wall time to open them all, ms. */
  connectMs: number;
  rssPerVisitor: number;
  heapPerVisitor: number;
  externalPerVisitor: number;
  /** Relay CPU (user + system) per connect, µs, including the metadata writes they caused; the same up to the last welcome; and the generator's. */
  cpuUsPerConnect: number;
  cpuUsPerConnectBeforeWrites: number;
  genCpuUsPerConnect: number;
  loopDelayMaxMs: number;
}

/** Loopback source addresses: each has its own ~28k ephemeral ports (and TIME_WAIT left by earlier runs). */
export const LOOPBACK_SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

export async function measureIdle(relay: RelayHandle, o: { visitors: number; concurrency?: number; localAddresses?: string[]; warmup?: number; whileOpen?: () => Promise<void> }): Promise<IdleResult> {
  // A first round (opened and closed) brings the allocators and the store's caches to their working size.
  if (o.warmup) {
    await openIdle(relay, o.warmup, o, async () => {});
    // The relay keeps a gone visitor for VISITOR_GRACE_MS (the bench relay: 1 s) before forgetting it.
    await new Promise((r) => setTimeout(r, 1500));
  }
  let result: IdleResult | undefined;
  await openIdle(relay, o.visitors, o, async (measure) => {
    result = await measure();
    // E.g. a heap snapshot of the relay with the visitors still open (scripts/bench/idleSmall.ts).
    await o.whileOpen?.();
  });
  return result!;
}

async function openIdle(
  relay: RelayHandle,
  n: number,
  o: { concurrency?: number; localAddresses?: string[] },
  then: (measure: () => Promise<IdleResult>) => Promise<void>,
): Promise<void> {
  const dialect = relay.info.dialect ?? 'plain';
  const addrs = o.localAddresses ?? LOOPBACK_SOURCES;
  const before = await relay.stats(10_000, true);
  const genBefore = process.cpuUsage();
  const t0 = nowMs();
  const open: Visitor[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      open.push(await Visitor.connect(relay.port, relay.info.publicKey, { dialect, localAddress: addrs[i % addrs.length] }));
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency ?? 64 }, worker));
    await then(async () => {
      const connectMs = nowMs() - t0;
      const mid = await relay.stats();
      const gen = process.cpuUsage(genBefore);
      // Counted to the steady state: the metadata writes the connects caused are done (bounded wait).
      let settled = mid;
      for (const until = nowMs() + 30_000; (settled.gauges.metadata_pending_visitors ?? 0) > 0 && nowMs() < until; ) {
        await new Promise((r) => setTimeout(r, 100));
        settled = await relay.stats();
      }
      const after = await relay.stats(10_000, true);
      return {
        visitors: n,
        connectMs,
        rssPerVisitor: (after.rss - before.rss) / n,
        heapPerVisitor: (after.heapUsed - before.heapUsed) / n,
        externalPerVisitor: (after.external - before.external) / n,
        cpuUsPerConnect: (settled.user + settled.system - before.user - before.system) / n,
        cpuUsPerConnectBeforeWrites: (mid.user + mid.system - before.user - before.system) / n,
        genCpuUsPerConnect: (gen.user + gen.system) / n,
        loopDelayMaxMs: mid.loopDelayMaxMs,
      };
    });
  } finally {
    const closed = open.map((v) => v.ws.closed);
    for (const v of open) v.close();
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 10_000))]);
    for (const v of open) v.terminate();
    // Until the relay has seen them all go (bounded).
    for (const until = nowMs() + 10_000; nowMs() < until; ) {
      const s = await relay.stats();
      if ((s.gauges.visitor_sockets ?? 0) <= (before.gauges.visitor_sockets ?? 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
