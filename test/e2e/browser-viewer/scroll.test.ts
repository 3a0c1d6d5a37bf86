/**
 * A live view jumps with the visitor's scrolling (agent-viewer/instantScroll.ts). rrweb's
 * Replayer plays a live scroll smoothly (~470 ms), and a page's own `scroll-behavior: smooth`
 * (Bootstrap sets it on :root) would animate even a plain scroll: the agent would see the page
 * late and mid-way. Proof without timing thresholds: every scroll position the view shows, frame
 * by frame, is recorded; after each visitor scroll the view must go straight from the old
 * position to the new one, with nothing in between. The time to settle is printed (the benchmark,
 * scripts/bench/viewerLatency.ts, measures it properly).
 */
import t from 'tap';
import { chromiumAvailable } from '../../helpers/browser.ts';
import { allowFromKeyboard, openViewer } from '../../helpers/viewerPage.ts';
import { fidelityStack, openSitePage } from '../../helpers/viewerSetups.ts';

const HOST = 'shop.example.com';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('the view jumps to each scroll position of the visitor, on a page with scroll-behavior: smooth', async (t) => {
    const { site, r, base, browser } = await fidelityStack(t, { secure: true, host: HOST, account: 'acme' });
    const viewer = await openViewer(browser, base, r.token(r.acme, 'alice', 'Alice'), { width: 1400, height: 950 });
    const { page: visitor, vid } = await openSitePage(browser, site, 'shop.html');
    t.equal(await visitor.evaluate(() => getComputedStyle(document.documentElement).scrollBehavior), 'smooth', 'the page asks for smooth scrolling (Bootstrap)');
    const maxY = await visitor.evaluate(() => document.scrollingElement!.scrollHeight - innerHeight);
    t.ok(maxY > 300, `the page scrolls (${maxY} px)`);
    await viewer.watch(vid, '');
    await allowFromKeyboard(visitor, 'Allow');
    await viewer.waitState('live', 15_000);

    // In the viewer page: the replayed page's scrollY at every animation frame (positions, de-duplicated in order).
    await viewer.page.evaluate(`(() => {
      const w = window;
      w.__scrolls = [];
      const tick = () => {
        const f = [...document.querySelectorAll('#stage iframe')].find((f) => f.closest('.replay-host').style.visibility !== 'hidden');
        const y = f && f.contentWindow ? Math.round(f.contentWindow.scrollY) : -1;
        if (w.__scrolls[w.__scrolls.length - 1] !== y) w.__scrolls.push(y);
        requestAnimationFrame(tick);
      };
      tick();
    })()`);
    const positions = () => viewer.page.evaluate(() => (window as any).__scrolls.slice() as number[]);

    for (const target of [Math.round(maxY * 0.8), Math.round(maxY * 0.2), maxY, 0]) {
      const before = (await positions()).length;
      const started = Date.now();
      // A plain scroll as a wheel or a scrollbar drag makes it: the page's smooth behaviour is the visitor's own business.
      await visitor.evaluate((y) => window.scrollTo({ top: y, behavior: 'instant' as ScrollBehavior }), target);
      await viewer.page.waitForFunction((y) => (window as any).__scrolls[(window as any).__scrolls.length - 1] === y, target, { timeout: 5000 });
      const settled = Date.now() - started;
      const shown = (await positions()).slice(before);
      t.same(shown, [target], `scroll to ${target}: the view went straight there (positions shown: ${JSON.stringify(shown.slice(0, 8))}${shown.length > 8 ? '…' : ''}; settled in ~${settled} ms)`);
    }
  });
}
