/** Resident memory of a process tree (Linux /proc), to see what a browser under test really uses. */
import fs from 'node:fs';

/** Sum of VmRSS, in bytes, over the descendants of `root` (this process: a browser it launched). */
export function treeRssBytes(root = process.pid): number {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the command (field 2) may contain spaces, so split after ')'.
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  let total = 0;
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop()!;
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      total += Number(kb ?? 0) * 1024;
    } catch {
      /* exited meanwhile */
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Samples treeRssBytes every `everyMs` until stopped; returns the peak. */
export function rssPeakSampler(everyMs = 100): { stop(): number } {
  let peak = treeRssBytes();
  const timer = setInterval(() => (peak = Math.max(peak, treeRssBytes())), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, treeRssBytes());
    },
  };
}
