/**
 * `npx tsx scripts/bench/agentSmall.ts [agents] [rounds]`: what an open, idle agent socket costs our
 * relay (JS heap after a forced GC, relay CPU per connect), a small measurement for issue 15 work on a
 * shared machine. Each round is a fresh relay child: a warm-up of 200 agents opened and closed, then
 * `agents` opened (8 tokens, 32 at a time) and measured while open.
 */
import { Agent } from './load.ts';
import { RelayHandle } from './relayHandle.ts';

const n = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 1);

async function openAgents(relay: RelayHandle, count: number): Promise<Agent[]> {
  const out: Agent[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out.push(await Agent.connect(relay.port, relay.info.tokens[i % relay.info.tokens.length], i));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return out;
}

const heap: number[] = [];
const cpu: number[] = [];
for (let r = 0; r < rounds; r++) {
  const relay = await RelayHandle.start('uws');
  try {
    for (const a of await openAgents(relay, 200)) a.close();
    // Until the relay has let the warm-up agents go (their close handlers ran).
    for (let s = await relay.stats(); (s.gauges.agent_sockets ?? 0) > 0; s = await relay.stats()) await new Promise((res) => setTimeout(res, 50));
    const before = await relay.stats(10_000, true);
    const agents = await openAgents(relay, n);
    const after = await relay.stats(10_000, true);
    heap.push((after.heapUsed - before.heapUsed) / n);
    cpu.push((after.user + after.system - before.user - before.system) / n);
    console.log(`round ${r + 1}: ${n} agents: heap ${heap[r].toFixed(0)} B/agent, relay CPU ${cpu[r].toFixed(0)} µs/connect (incl. the forced GC)`);
    for (const a of agents) a.close();
  } finally {
    await relay.stop();
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`median: heap ${med(heap).toFixed(0)} B/agent, relay CPU ${med(cpu).toFixed(0)} µs/connect`);
