/**
 * A child of presenceWrites.ts standing for another relay: a Presence watching the directory into its
 * replica. Told a target size, it reports its CPU from then until its replica holds that many tabs.
 */
import crypto from 'node:crypto';
import { connectCluster } from '../../relay/cluster/connection.ts';
import { Presence } from '../../relay/cluster/presence.ts';
import { createLogger } from '../../relay/log.ts';
import { Metrics } from '../../relay/metrics.ts';

const [url, node] = process.argv.slice(2);
const metrics = new Metrics();
const conn = await connectCluster(url, node, createLogger('silent'));
const presence = new Presence(conn, node, crypto.randomBytes(32), () => [], () => false, { nodeDead() {}, tabSeen() {} }, metrics, createLogger('silent'));
await presence.start(30_000);
process.on('message', async (m: { target: number } | { exit: true }) => {
  if ('exit' in m) process.exit(0); // a normal exit: a --cpu-prof run writes its profile
  const cpu0 = process.cpuUsage();
  while (metrics.gauges.cluster_presence_tabs !== m.target) await new Promise((r) => setTimeout(r, 20));
  const cpu = process.cpuUsage(cpu0);
  process.send!({ cpuUs: cpu.user + cpu.system });
});
process.send!({ ready: true });
