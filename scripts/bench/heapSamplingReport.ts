/**
 * `npx tsx scripts/bench/heapSamplingReport.ts <heap-<pid>.json> <connects>`: the bytes a profile from
 * heapSampling.mjs allocated, per connect, in all and by function (name, file, column of its start:
 * tsx's output is one line a file), largest first.
 */
import fs from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; columnNumber: number }; children: Node[] }
const [file, connectsArg] = process.argv.slice(2);
if (!file || !connectsArg) throw new Error('usage: heapSamplingReport.ts <profile.json> <connects>');
const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { head: Node; samples: Array<{ nodeId: number; size: number }> };
const connects = Number(connectsArg);
const bytesByNode = new Map<number, number>();
for (const s of profile.samples) bytesByNode.set(s.nodeId, (bytesByNode.get(s.nodeId) ?? 0) + s.size);
const byFunction = new Map<string, number>();
let total = 0;
const walk = (n: Node) => {
  const bytes = bytesByNode.get(n.id) ?? 0;
  total += bytes;
  const where = n.callFrame.url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where}${where ? `:col ${n.callFrame.columnNumber}` : ''}`;
  if (bytes) byFunction.set(key, (byFunction.get(key) ?? 0) + bytes);
  for (const c of n.children) walk(c);
};
walk(profile.head);
console.log(`${(total / connects).toFixed(0)} B allocated per connect in all`);
for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${(v / connects).toFixed(0).padStart(6)} B  ${k}`);
