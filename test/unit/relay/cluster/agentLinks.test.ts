/**
 * AgentLinks on the agent's relay: a `watch` subscribes the agent's socket only to a tab of its own
 * account and linked visitor; frames are published only when they come from the relay the watchers
 * are linked to.
 */
import t from 'tap';
import { AgentLinks } from '../../../../relay/cluster/agentLinks.ts';
import { Metrics } from '../../../../relay/metrics.ts';

function setup() {
  const subscribed: string[] = [];
  const published: string[] = [];
  const sent: unknown[] = [];
  const router = { publisher: { publishToWatchers: (topic: string) => (published.push(topic), 1) } };
  const bus = { send: (node: string, env: unknown) => sent.push({ node, env }) };
  const metrics = new Metrics();
  const links = new AgentLinks('A', router as any, bus as any, {} as any, metrics);
  const agent = {
    accountId: 'acc1', agentId: 'ag1', closed: false, lagging: false,
    remote: { node: 'B', visitorId: 'vis1' } as { node: string; visitorId: string; topic?: string },
    ws: { subscribe: (topic: string) => subscribed.push(topic), unsubscribe: () => {}, send: () => {} },
  };
  (links as any).bySid.set('s1', agent);
  return { links, agent, subscribed, published, sent, metrics };
}

t.test('watch: only a tab of the agent\'s account and linked visitor', async (t) => {
  const { links, agent, subscribed, metrics } = setup();
  for (const topic of ['tab/acc2/vis1/t1', 'tab/acc1/vis2/t1']) {
    links.onEnvelope({ op: 'watch', from: 'B', sid: 's1', topic });
  }
  t.same(subscribed, [], 'another account\'s or another visitor\'s tab is not subscribed');
  t.equal(metrics.counters.cluster_bad_messages_total, 2, 'both counted as bad messages');
  t.equal(agent.remote.topic, undefined);
  links.onEnvelope({ op: 'watch', from: 'B', sid: 's1', topic: 'tab/acc1/vis1/t1' });
  t.same(subscribed, ['tab/acc1/vis1/t1'], 'the linked visitor\'s tab is');
  links.onEnvelope({ op: 'watch', from: 'C', sid: 's1', topic: 'tab/acc1/vis1/t2' });
  t.same(subscribed, ['tab/acc1/vis1/t1'], 'a watch from a relay the agent is not linked to is ignored');
});

t.test('frames: only from the relay the watchers are linked to', async (t) => {
  const { links, published, metrics } = setup();
  links.onEnvelope({ op: 'watch', from: 'B', sid: 's1', topic: 'tab/acc1/vis1/t1' });
  const frame = { topic: 'tab/acc1/vis1/t1', data: new Uint8Array([1, 2, 3]), binary: true };
  links.onFrame(frame, 'C');
  t.same(published, [], 'a frame from another relay (stale or stray) is dropped');
  t.equal(metrics.counters.cluster_bad_messages_total, 1);
  links.onFrame(frame, 'B');
  t.same(published, ['tab/acc1/vis1/t1'], 'a frame from the linked relay is published');
});
