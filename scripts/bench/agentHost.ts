/**
 * Bench child: a second load-generator process that hosts some of a session's agents, so
 * that receiving (the generator's heaviest work) is not confined to one core. Driven over IPC
 * by scripts/bench/remoteAgents.ts; latencies use the same wall clock as the parent
 * (performance.timeOrigin + performance.now(), consistent across processes to ~10 µs).
 */
import * as hdr from 'hdr-histogram-js';
import { Agent, Sink } from './load.ts';
import type { AgentStatus, HostReply, HostRequest } from './remoteAgents.ts';

if (!process.send) {
  console.error('this script is a bench child: run it through scripts/bench/run.ts');
  process.exit(2);
}
const reply = (m: HostReply) => process.send?.(m);

let agents: Agent[] = [];
let sink = new Sink();
let cpuAtStart = process.cpuUsage();

const status = (): AgentStatus[] =>
  agents.map((a) => ({ index: a.index, expected: a.expected, received: a.received, gaps: a.gaps, outOfOrder: a.outOfOrder, resyncs: a.resyncs, closeCode: a.closeCode ?? null }));

async function closeAll(): Promise<void> {
  const all = agents;
  agents = [];
  for (const a of all) a.close();
  await Promise.race([
    Promise.all(all.map((a) => a.ws.closed)),
    new Promise((r) => setTimeout(r, 2000)),
  ]);
  for (const a of all) a.terminate();
}

process.on('message', async (m: HostRequest) => {
  try {
    switch (m.type) {
      case 'connect': {
        await closeAll();
        agents = await Promise.all(m.indices.map((index, i) => Agent.connect(m.port, m.tokens[i], index, { dialect: m.dialect })));
        for (const a of agents) await a.join(m.visitorId);
        return reply({ type: 'connected', id: m.id });
      }
      case 'start': {
        sink = new Sink();
        for (const a of agents) {
          a.sink = sink;
          let reported = a.expected;
          a.onFrameHook =
            m.progressEvery > 0
              ? () => {
                  if (a.expected - reported < m.progressEvery) return;
                  reported = a.expected;
                  reply({ type: 'progress', index: a.index, expected: a.expected });
                }
              : undefined;
        }
        cpuAtStart = process.cpuUsage();
        return reply({ type: 'started', id: m.id });
      }
      case 'status':
        return reply({ type: 'status', id: m.id, agents: status() });
      case 'collect': {
        const cpu = process.cpuUsage(cpuAtStart);
        for (const a of agents) a.onFrameHook = undefined;
        return reply({
          type: 'collected',
          id: m.id,
          agents: status(),
          deliveries: sink.deliveries,
          bytes: sink.bytes,
          firstRecvAt: sink.firstRecvAt,
          lastRecvAt: sink.lastRecvAt,
          fromScheduled: hdr.encodeIntoCompressedBase64(sink.fromScheduled),
          fromSent: hdr.encodeIntoCompressedBase64(sink.fromSent),
          cpuUs: cpu.user + cpu.system,
        });
      }
      case 'close':
        await closeAll();
        return reply({ type: 'closed', id: m.id });
      case 'exit':
        await closeAll();
        process.exit(0);
    }
  } catch (err) {
    reply({ type: 'error', id: 'id' in m ? m.id : 0, message: (err as Error).message });
  }
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'hello' });
