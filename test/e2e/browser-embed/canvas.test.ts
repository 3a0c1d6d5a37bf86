/**
 * Canvas streaming from the embed's side (client/canvas.ts), read off the wire by a plain agent
 * socket: on the chart.js dashboard (three charts and one `data-cobrowse-hidden` canvas),
 * - each visible, unmasked canvas gets a picture after the snapshot;
 * - the masked canvas never does (it is never even read), and its snapshot node is an empty sized box;
 * - a canvas that does not change is not sent again, one that changes is.
 * The view side (pictures shown in the script-less replay) is test/e2e/browser-viewer/fidelityHttps.test.ts.
 */
import t from 'tap';
import { chromiumAvailable } from '../../helpers/browser.ts';
import { connectAgent } from '../../helpers/clients.ts';
import { frameEvents, isFullSnapshotFrame } from '../../helpers/frames.ts';
import { fidelityStack, openSitePage } from '../../helpers/viewerSetups.ts';

const HOST = 'shop.example.com';
type Node = { id: number; tagName?: string; attributes?: Record<string, unknown>; childNodes?: Node[] };

function canvases(root: Node): Node[] {
  const out: Node[] = [];
  const stack = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.tagName === 'canvas') out.push(n);
    for (const c of n.childNodes ?? []) stack.push(c);
  }
  return out;
}

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('visible unmasked canvases are streamed when they change; masked ones never', async (t) => {
    // account open: consent off, the join starts sharing
    const { site, r, browser } = await fidelityStack(t, { secure: true, host: HOST, account: 'open' });
    const { page, vid } = await openSitePage(browser, site, 'dashboard.html');
    await page.waitForFunction(() => (window as any).__ready === true);

    const agent = await connectAgent(r.port, r.token(r.open, 'bob', 'Bob'));
    t.teardown(() => agent.close());
    agent.send({ t: 'join', visitorId: vid });
    const full = await agent.until(() => agent.frames.find(isFullSnapshotFrame), 10_000, 'full snapshot');
    const snap = frameEvents(full).find((e) => e.type === 2)!;
    const all = canvases(snap.data.node);
    const byName = new Map(all.map((c) => [String(c.attributes?.id ?? 'masked'), c]));
    t.same([...byName.keys()].sort(), ['masked', 'mix', 'orders', 'revenue'], 'four canvases, the masked one without its id');
    const masked = byName.get('masked')!;
    t.ok(masked.attributes?.rr_width && masked.attributes?.rr_height, 'the masked canvas is a sized box');
    t.notOk(Object.keys(masked.attributes ?? {}).some((k) => k === 'rr_dataURL'), 'with no picture in it');

    // Pictures sent since the latest full snapshot: a new snapshot (the embed may take a second one
    // when the join and the start of sharing cross) leaves blank canvases, so every picture is sent anew.
    const lastFull = () => agent.frames.map((f) => isFullSnapshotFrame(f)).lastIndexOf(true);
    const pictures = () => agent.frames.slice(lastFull() + 1).flatMap((f) => frameEvents(f)).filter((e) => e.type === 3 && e.data?.source === 9).map((e) => e.data.id as number);
    const count = (id: number) => pictures().filter((p) => p === id).length;
    const charts = ['revenue', 'mix', 'orders'].map((n) => byName.get(n)!.id);
    await agent.until(() => charts.every((id) => count(id) >= 1), 10_000, 'a picture of every chart');
    t.pass('every chart canvas sent a picture');

    // One chart changes; the sampler sends it again. The others were sampled in the same rounds, unchanged: not re-sent.
    await page.evaluate(() => {
      const c = (window as any).Chart.getChart('orders');
      c.data.datasets[0].data[0] = 1000;
      c.update();
    });
    let before = charts.map(count);
    let fullsBefore = lastFull();
    await page.evaluate(() => {
      const c = (window as any).Chart.getChart('orders');
      c.data.datasets[0].data[1] = 1200;
      c.update();
    });
    await agent.until(() => count(charts[2]) > before[2], 10_000, 'the changed chart again');
    if (lastFull() !== fullsBefore) {
      // A snapshot came in between: every chart was sent once after it; wait for a round after that.
      t.comment('a second full snapshot arrived; comparing the rounds after it');
      await agent.until(() => charts.every((id) => count(id) >= 1), 10_000, 'every chart after the new snapshot');
      before = charts.map(count);
      fullsBefore = lastFull();
      await page.evaluate(() => {
        const c = (window as any).Chart.getChart('orders');
        c.data.datasets[0].data[2] = 1400;
        c.update();
      });
      await agent.until(() => count(charts[2]) > before[2], 10_000, 'the changed chart again');
    }
    // Sampled in the same rounds as the changed chart, unchanged: not re-sent.
    t.same(charts.slice(0, 2).map(count), before.slice(0, 2), `unchanged charts are not sent again (${before.join(',')} → ${charts.map(count).join(',')})`);
    t.equal(count(masked.id), 0, 'the masked canvas never sent a picture');
    t.notOk(pictures().some((id) => !charts.includes(id)), 'no picture of anything else');
  });
}
