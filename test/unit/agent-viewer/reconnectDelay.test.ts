/** The agent socket's reconnect delay (agent-viewer/reconnectDelay.ts) with a chosen random. */
import t from 'tap';
import { RECONNECT_CAP_MS, reconnectDelay } from '../../../agent-viewer/reconnectDelay.ts';

t.test('half to all of 0.5 s, 1 s, 2 s … capped at 15 s', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 6].map((a) => reconnectDelay(a, () => 0)), [250, 500, 1000, 2000, 4000, 7500, 7500], 'random 0: half of each step');
  t.same([0, 1, 2, 3, 4, 5, 6].map((a) => reconnectDelay(a, () => 1)), [500, 1000, 2000, 4000, 8000, 15000, 15000], 'random 1: the whole step, capped');
  t.equal(reconnectDelay(2, () => 0.5), 1500, 'in between');
  t.equal(reconnectDelay(10_000, () => 1), RECONNECT_CAP_MS, 'no Infinity for a huge attempt count');
  t.ok(Number.isInteger(reconnectDelay(3, () => 0.123)), 'whole milliseconds (shown to the agent)');
});
