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
  /** V8 heap committed per visitor (what of the RSS is V8's, used or kept free). */
  heapTotalPerVisitor: number;
  /** The main thread's malloc heap per visitor (native: uWS's socket, SQLite); with heapPerVisitor, the memory that scales with visitors. */
  mallocPerVisitor: number;
  externalPerVisitor: number;
  /** Relay CPU (user + system) per connect, µs, including the metadata writes they caused; the same up to the last welcome; and the generator's. */
  cpuUsPerConnect: number;
  cpuUsPerConnectBeforeWrites: number;
  /** The relay's main thread alone (the rest: V8's GC helpers, the store's worker). */
  mainCpuUsPerConnect: number;
  /** BENCH_THREADS=1: CPU µs per connect of each thread (key: thread id minus the process id; 0 is the main thread). */
  threadsUsPerConnect?: Record<string, number>;
  genCpuUsPerConnect: number;
  loopDelayMaxMs: number;
}

/** Loopback source addresses: each has its own ~28k ephemeral ports (and TIME_WAIT left by earlier runs). */
export const LOOPBACK_SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

/**
 * `base`: visitors opened first and kept open, not measured: the figures are then the *marginal* cost
 * of `visitors` more on a relay already holding `base` (one-off growth — V8's young generation, the
 * store's caches, the write worker — is paid by the base, and nothing freed is reused as it is after
 * a warm-up round, which makes a warm-up-only RSS figure swing by ±1 KB per visitor).
 */
export async function measureIdle(relay: RelayHandle, o: { visitors: number; concurrency?: number; localAddresses?: string[]; warmup?: number; base?: number; settleMs?: number; beforeMeasure?: () => void; whileOpen?: () => Promise<void> }): Promise<IdleResult> {
  // A first round (opened and closed) brings the allocators and the store's caches to their working size.
  if (o.warmup) {
    await openIdle(relay, o.warmup, { ...o, settleMs: 0, beforeMeasure: undefined }, async () => {});
    // The relay keeps a gone visitor for VISITOR_GRACE_MS (the bench relay: 1 s) before forgetting it.
    await new Promise((r) => setTimeout(r, 1500));
  }
  let result: IdleResult | undefined;
  const measured = () =>
    openIdle(relay, o.visitors, o, async (measure) => {
      result = await measure();
      // E.g. a heap snapshot of the relay with the visitors still open (scripts/bench/idleSmall.ts).
      await o.whileOpen?.();
    });
  if (o.base) await openIdle(relay, o.base, { ...o, settleMs: 0, beforeMeasure: undefined }, async (settle) => void (await settle(), await measured()));
  else await measured();
  return result!;
}

async function openIdle(
  relay: RelayHandle,
  n: number,
  o: { concurrency?: number; localAddresses?: string[]; settleMs?: number; beforeMeasure?: () => void },
  then: (measure: () => Promise<IdleResult>) => Promise<void>,
): Promise<void> {
  // V8 keeps the pages a burst of connects used until its memory reducer runs (~10 s of calm): RSS read
  // right after a burst holds them. settleMs waits that out, before both readings.
  const settle = () => (o.settleMs ? new Promise((r) => setTimeout(r, o.settleMs)) : Promise.resolve());
  await settle();
  const dialect = relay.info.dialect ?? 'plain';
  const addrs = o.localAddresses ?? LOOPBACK_SOURCES;
  o.beforeMeasure?.(); // e.g. the relay's memory map, read at the same point as `before`
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
      // Nothing pending and no store call under way (our relay's writes finish in a worker thread, after the call).
      const writing = (st: typeof mid) => (st.gauges.metadata_pending_visitors ?? 0) > 0 || (st.counters.visitor_store_rows_done_total ?? 0) < (st.counters.visitor_store_rows_total ?? 0);
      for (const until = nowMs() + 30_000; writing(settled) && nowMs() < until; ) {
        await new Promise((r) => setTimeout(r, 100));
        settled = await relay.stats();
      }
      await settle();
      const after = await relay.stats(10_000, true);
      return {
        visitors: n,
        connectMs,
        rssPerVisitor: (after.rss - before.rss) / n,
        heapPerVisitor: (after.heapUsed - before.heapUsed) / n,
        heapTotalPerVisitor: (after.heapTotal - before.heapTotal) / n,
        mallocPerVisitor: (after.mallocHeap - before.mallocHeap) / n,
        externalPerVisitor: (after.external - before.external) / n,
        cpuUsPerConnect: (settled.user + settled.system - before.user - before.system) / n,
        cpuUsPerConnectBeforeWrites: (mid.user + mid.system - before.user - before.system) / n,
        mainCpuUsPerConnect: (settled.mainThreadUs - before.mainThreadUs) / n,
        threadsUsPerConnect: settled.threadsUs && before.threadsUs ? Object.fromEntries(Object.entries(settled.threadsUs).map(([t, us]) => [t, Math.round((us - (before.threadsUs?.[t] ?? 0)) / n)]).filter(([, us]) => us)) : undefined,
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
