/**
 * Where a process's resident memory grew, by mapping (IDLE_SMAPS=1 in scripts/bench/idleSmall.ts):
 * `[heap]` is the main thread's malloc heap; a 64 MiB-aligned anonymous mapping at 0x7f… is another
 * thread's malloc arena (glibc does not say which thread's); V8's heap pages are 256 KiB mappings.
 */
import fs from 'node:fs';

const ARENA_ALIGN = 64n * 1024n * 1024n;

/**
 * Resident bytes of `pid` by kind of mapping: `[heap]`, each thread arena (by its start: glibc grows
 * an arena's read-write part in place, so one arena is several lines of smaps over time), the other
 * anonymous mappings in two sums (V8's heap pages, of 256 KiB each; the rest), and each file by name.
 */
export function residentByMapping(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let name = '';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const start = BigInt(`0x${head[1]}`);
      const kib = Number((BigInt(`0x${head[2]}`) - start) / 1024n);
      if (head[3]) name = head[3].replace(/.*\//, '');
      else if (start >= 0x7f0000000000n && start % ARENA_ALIGN === 0n) name = `[thread arena ${head[1]}]`;
      else name = kib === 256 ? '[V8 heap pages (256 KiB mappings)]' : '[other anonymous]';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out.set(name, (out.get(name) ?? 0) + Number(rss[1]) * 1024);
  }
  return out;
}

/** The mappings that grew (or shrank) by at least `minBytesPer` per unit between two readings, largest first. */
export function growthLines(before: Map<string, number>, after: Map<string, number>, per: number, minBytesPer = 20): string[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  const rows = [...names].map((k) => [k, ((after.get(k) ?? 0) - (before.get(k) ?? 0)) / per] as const);
  const small = rows.filter(([, v]) => Math.abs(v) < minBytesPer).reduce((n, [, v]) => n + v, 0);
  return [
    ...rows.filter(([, v]) => Math.abs(v) >= minBytesPer).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${v.toFixed(0).padStart(7)} B  ${k}`),
    `${small.toFixed(0).padStart(7)} B  (all smaller ones)`,
  ];
}
