/** The relay-to-relay envelope: validated like client input, every field bounded, unknown ops refused. */
import t from 'tap';
import { encodeEnvelope, envelopeText, parseEnvelope, type ClusterEnvelope } from '../../../protocol/cluster.ts';

const agent = { sid: 's1', accountId: 'acc_1', agentId: 'ag_1', name: 'Ann', ip: '127.0.0.1', exp: 2_000_000_000 };

t.test('valid envelopes round-trip through the node-subject encoding', async (t) => {
  const envs: ClusterEnvelope[] = [
    { op: 'agent-msg', from: 'B', agent, msg: { t: 'join', visitorId: 'v1' } },
    // A control message type the protocol may gain later crosses unchanged (the receiver validates it).
    { op: 'agent-msg', from: 'B', agent, msg: { t: 'e2e-key', key: 'abc' } },
    { op: 'to-agent', from: 'A', sid: 's1', text: '{"t":"joined"}' },
    { op: 'watch', from: 'A', sid: 's1', topic: 'tab/acc_1/v1/t1' },
    { op: 'end-visitors', from: 'C', accountId: 'acc_1', visitorIds: ['v1', 'v2'] },
    { op: 'rotated', from: 'B', accountId: 'acc_1' },
    { op: 'tab-active', from: 'C', accountId: 'acc_1', visitorId: 'v1', tabId: 't2' },
  ];
  for (const env of envs) {
    const r = parseEnvelope(envelopeText(encodeEnvelope(env)));
    t.ok(r.ok, env.op);
    if (r.ok) t.same(r.env, env);
  }
});

t.test('malformed envelopes are refused with a reason', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['unknown op', { op: 'nope', from: 'A' }],
    ['bad node id', { op: 'rotated', from: 'a.b', accountId: 'x' }],
    ['missing field', { op: 'agent-gone', from: 'A' }],
    ['extra field', { op: 'agent-gone', from: 'A', sid: 's', extra: 1 }],
    ['msg on another op', { op: 'agent-gone', from: 'A', sid: 's', msg: {} }],
    ['msg not an object', { op: 'agent-msg', from: 'A', agent, msg: 'join' }],
    ['agent ref incomplete', { op: 'agent-msg', from: 'A', agent: { sid: 's' }, msg: {} }],
    ['topic not a tab topic', { op: 'watch', from: 'A', sid: 's', topic: 'tab/../x' }],
    ['close code out of range', { op: 'close-agent', from: 'A', sid: 's', code: 99999, message: '' }],
    ['too many ids', { op: 'end-visitors', from: 'A', accountId: 'a', visitorIds: Array.from({ length: 1001 }, (_, i) => `v${i}`) }],
    ['text too long', { op: 'to-agent', from: 'A', sid: 's', text: 'x'.repeat(40_000) }],
    ['array', [1, 2]],
  ];
  for (const [what, value] of cases) {
    const r = parseEnvelope(JSON.stringify(value));
    t.equal(r.ok, false, what);
  }
  t.equal(parseEnvelope('{oops').ok, false, 'malformed JSON');
  t.equal(parseEnvelope('x'.repeat(200_000)).ok, false, 'oversized');
});
