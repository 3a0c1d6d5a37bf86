/**
 * The agent's view follows the visitor from tab to tab, in real Chromium: two tabs of the demo page
 * in one browser context (one visitor), the agent viewer in another, the relay as `npm start` runs it.
 */
import t from 'tap';
import type { Page } from 'playwright-core';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { startNpmRelay } from '../../helpers/npmStart.ts';
import { freePort } from '../../helpers/relay.ts';
import { allowFromKeyboard, openViewer, sleep } from '../../helpers/viewerPage.ts';

/** What the browser does when the visitor switches to this tab (headless pages all count as visible). */
async function switchTo(page: Page): Promise<void> {
  await page.bringToFront();
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
}

const sharingBars = (page: Page) => page.evaluate(() => document.querySelector('cobrowse-ui')?.shadowRoot?.querySelectorAll('[aria-label="Screen sharing"]').length ?? 0);
const cartInView = (doc: Document) => doc.querySelectorAll('#cart li').length;

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('the view follows the visitor to the tab they switch to, without a new prompt', async (t) => {
    const r = await startNpmRelay(await freePort());
    t.teardown(() => r.stop());
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const vctx = await browser.newContext({ viewport: { width: 800, height: 500 } });
    const errors: string[] = [];
    const open = async () => {
      const p = await vctx.newPage();
      p.on('pageerror', (e) => errors.push(e.message));
      await p.goto(`${r.base}/demo/`);
      await p.waitForFunction(() => document.getElementById('vid')?.textContent !== 'connecting…', null, { timeout: 10_000 });
      return p;
    };
    const tab1 = await open();
    const tab2 = await open();
    const visitorId = (await tab1.textContent('#vid'))!;
    t.equal(await tab2.textContent('#vid'), visitorId, 'both tabs are one visitor');
    // Tab 2 has three items in its cart, tab 1 none: the view tells them apart.
    for (let i = 0; i < 3; i++) await tab2.click('#add');
    await sleep(1100); // past the embed's tab-active throttle
    await switchTo(tab1);

    const alice = await openViewer(browser, r.base, await r.mint('alice', 'Alice'));
    await alice.watch(visitorId);
    await allowFromKeyboard(tab1, 'Allow');
    await alice.waitState('live', 15_000);
    await alice.waitInView((d) => d.getElementById('cart') && d.querySelectorAll('#cart li').length === 0, 10_000, 'tab 1 (empty cart)');
    t.equal(await alice.inView(cartInView), 0, 'the agent sees tab 1, where the visitor allowed');

    await switchTo(tab2);
    await alice.waitInView((d) => d.querySelectorAll('#cart li').length === 3, 10_000, 'tab 2 (three items)');
    t.pass('the view switched to tab 2');
    t.equal(await tab2.getByRole('alertdialog').count(), 0, 'no new prompt on tab 2');
    t.equal(await sharingBars(tab2), 1, 'tab 2 shows the sharing bar');
    await tab1.waitForFunction(() => !document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[aria-label="Screen sharing"]'), null, { timeout: 5000 });
    t.pass("tab 1's sharing bar is gone: it is no longer shown to anyone");
    t.equal(await alice.state(), 'live', 'the viewer stayed live (rebuilt in place)');

    // Live changes come from tab 2 only now.
    await tab2.click('#add');
    await alice.waitInView((d) => d.querySelectorAll('#cart li').length === 4, 5000, 'a change on tab 2');
    await tab1.click('#add');
    await sleep(500);
    t.equal(await alice.inView(cartInView), 4, 'a change on tab 1 does not reach the view');

    // And back to tab 1, which has one item now.
    await sleep(1100);
    await switchTo(tab1);
    await alice.waitInView((d) => d.querySelectorAll('#cart li').length === 1, 10_000, 'back on tab 1');
    t.pass('the view followed the visitor back to tab 1');
    t.same(alice.errors.filter((e) => !/Failed to load resource/.test(e)), [], 'no errors in the viewer');
    t.same(errors, [], 'no uncaught errors on the visitor pages');
  });
}
