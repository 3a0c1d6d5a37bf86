/** TabRate (one object for a tab's two budgets) answers exactly as the two TokenBuckets it replaces. */
import t from 'tap';
import { TabRate } from '../../../../relay/limits/tabRate.ts';
import { TokenBucket } from '../../../../relay/limits/tokenBucket.ts';

t.test('the same answers as a message bucket then a byte bucket, over random traffic', async (t) => {
  const limits = { msgsPerSec: 200, msgBurst: 400, bytesPerSec: 64 * 1024, byteBurst: 128 * 1024 };
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let now = 1000;
  const rate = new TabRate(limits, now);
  const msgs = new TokenBucket(limits.msgsPerSec, limits.msgBurst, now);
  const bytes = new TokenBucket(limits.bytesPerSec, limits.byteBurst, now);
  let refused = 0;
  let mismatches = 0;
  for (let i = 0; i < 20_000; i++) {
    // Bursts (no time passing), short gaps and long pauses; small and large messages.
    const r = rand();
    now += r < 0.5 ? 0 : r < 0.95 ? rand() * 5 : rand() * 3000;
    const size = rand() < 0.9 ? Math.floor(rand() * 2048) : Math.floor(rand() * 200_000);
    const expected = msgs.take(1, now) && bytes.take(size, now);
    const got = rate.take(size, now);
    if (got !== expected) mismatches++;
    if (!expected) refused++;
  }
  t.equal(mismatches, 0, 'every answer the same');
  t.ok(refused > 100, `the traffic went over the limits too (${refused} refused)`);
});

t.test('a message refused for lack of message tokens takes no bytes; one refused for bytes spent its message token', async (t) => {
  const rate = new TabRate({ msgsPerSec: 1, msgBurst: 1, bytesPerSec: 100, byteBurst: 100 }, 0);
  t.ok(rate.take(100, 0), 'the burst');
  t.notOk(rate.take(0, 0), 'no message token left');
  t.notOk(rate.take(1000, 1000), 'a message token again, but not 1000 bytes');
  t.notOk(rate.take(0, 1000), 'and that message token was spent');
  t.ok(rate.take(100, 2000), 'a second later: one message, 100 bytes (bytes were not taken by the refused ones)');
});
