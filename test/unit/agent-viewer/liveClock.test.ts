/** The live view's timestamp shift (agent-viewer/liveClock.ts), with the clock chosen by the test. */
import t from 'tap';
import { liveTimestamp, type LiveClock } from '../../../agent-viewer/liveClock.ts';

const clock = (baseline = 1_000_000): LiveClock => ({ baseline, shift: 0, lastTs: baseline });

t.test('an event on time is played at its own timestamp; nothing shifts', async (t) => {
  const c = clock();
  t.equal(liveTimestamp(c, 1_000_100, 150), 1_000_100, 'due 100 ms after the baseline, 150 ms have passed');
  t.equal(c.shift, 0);
  t.equal(c.lastTs, 1_000_100);
});

t.test('an event from the future is made due now, and later events keep their spacing', async (t) => {
  const c = clock();
  // The visitor's clock is 5 s ahead of the time the first frame took to arrive.
  t.equal(liveTimestamp(c, 1_005_000, 200), 1_000_200, 'due now (200 ms in), not in 4.8 s');
  t.equal(c.shift, -4_800, 'the difference is kept');
  t.equal(liveTimestamp(c, 1_005_050, 400), 1_000_250, 'the next event keeps its 50 ms spacing');
  t.equal(c.shift, -4_800, 'an event already due does not change the shift');
});

t.test('the shift only grows, so the view converges on the fastest path', async (t) => {
  const c = clock();
  liveTimestamp(c, 1_003_000, 100);
  t.equal(c.shift, -2_900);
  liveTimestamp(c, 1_004_000, 150); // would be due at 1100 ms, only 150 ms have passed
  t.equal(c.shift, -3_850, 'a faster frame pulls the shift further');
  liveTimestamp(c, 1_004_100, 5_000); // late: no change
  t.equal(c.shift, -3_850, 'a slow frame never pushes it back');
});

t.test('timestamps never go backwards (a visitor clock stepping back, reordered events)', async (t) => {
  const c = clock();
  t.equal(liveTimestamp(c, 1_000_500, 1_000), 1_000_500);
  t.equal(liveTimestamp(c, 1_000_200, 1_100), 1_000_500, 'an older event is played at the last timestamp, in order');
  t.equal(liveTimestamp(c, 999_000, 1_200), 1_000_500, 'even one before the baseline');
  t.equal(c.lastTs, 1_000_500);
  t.equal(c.shift, 0, 'going back in time does not touch the shift');
});
