/**
 * The agent viewer end to end in real Chromium: the demo page (served by the relay, with the
 * real embed) in one browser context, the agent viewer in others, the real relay in between.
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { startNpmRelay } from '../../helpers/npmStart.ts';
import { freePort } from '../../helpers/relay.ts';
import { allowFromKeyboard, openViewer, shadowCount, sleep } from '../../helpers/viewerPage.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('agent finds the visitor, watches live, points, highlights, controls, ends', async (t) => {
    // The relay as `npm start` runs it: its own process, embedded store, demo account.
    const port = await freePort();
    let r = await startNpmRelay(port);
    t.teardown(() => r.stop());
    const base = r.base;
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    // ---- the visitor, on the demo page
    const vctx = await browser.newContext({ viewport: { width: 800, height: 400 } });
    const visitor = await vctx.newPage();
    const visitorErrors: string[] = [];
    visitor.on('pageerror', (e) => visitorErrors.push(e.message));
    visitor.on('dialog', (d) => void d.accept()); // an embed with a window.confirm prompt
    await visitor.goto(`${base}/demo/`);
    await visitor.waitForFunction(() => document.getElementById('vid')?.textContent !== 'connecting…', null, { timeout: 10_000 });
    const visitorId = (await visitor.textContent('#vid'))!;
    const canary = '4111111111111111';
    await visitor.fill('input[name=card]', canary); // masked: must never reach the agent
    await visitor.evaluate(() => (window as any).Cobrowse.identify({ userId: 'u-42', name: 'Jane Roe', email: 'jane.roe@example.com' }));

    // ---- the agent signs in with the demo link; the token leaves the address bar
    const alice = await openViewer(browser, base, await r.mint('alice', 'Alice'));
    const a = alice.page;
    t.equal(new URL(a.url()).hash, '', 'the token is removed from the address bar');
    t.ok(await a.evaluate(() => sessionStorage.getItem('cobrowse.agentToken')), 'and kept in sessionStorage');
    t.equal(await a.textContent('#who'), 'Alice');

    // Search by email (identify() data) finds the visitor, marked online.
    await alice.waitState('idle');
    await a.fill('#search', 'jane.roe@');
    const row = a.locator(`li[data-visitor-id="${visitorId}"]`);
    await row.waitFor({ timeout: 10_000 });
    t.match(await row.textContent(), /online[\s\S]*Jane Roe[\s\S]*u-42/, 'found by email: online, with name and user id');
    await a.fill('#search', 'no-such-person-xyz');
    await a.locator('.visitor-list .empty').waitFor({ timeout: 5000 });
    t.equal(await a.locator(`li[data-visitor-id="${visitorId}"]`).count(), 0, 'a search that matches nobody shows nobody');
    // The 6-digit lookup code the visitor reads out finds them too.
    await visitor.click('#code');
    const code = await (await visitor.waitForFunction(() => document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-code]')?.getAttribute('data-cobrowse-code'), null, { timeout: 5000 })).jsonValue();
    await a.fill('#search', String(code));
    await a.locator(`li[data-visitor-id="${visitorId}"]`).waitFor({ timeout: 10_000 });
    t.pass('found by lookup code');
    await alice.watch(visitorId, 'u-42'); // by user id
    await alice.waitState('waiting-consent');

    // The visitor allows from the keyboard; the page appears.
    await allowFromKeyboard(visitor, 'Allow');
    await alice.waitState('live', 15_000);
    await alice.waitInView((d) => d.body?.textContent?.includes('Acme Shop'), 10_000, 'the demo page in the view');
    t.equal(await a.evaluate(() => document.querySelector('#stage iframe')?.getAttribute('sandbox')), 'allow-same-origin', 'replay iframe sandboxed without scripts');
    t.equal(await a.getAttribute('#stage', 'data-viewport'), '800x400', 'the visitor viewport size');

    // A DOM change, typing and a scroll on the visitor side appear in the view.
    await visitor.click('#add');
    await alice.waitInView((d) => d.querySelector('#cart')?.textContent?.includes('Item 1'), 5000, 'the DOM change');
    t.pass('DOM change shown');
    await visitor.fill('input[name=email]', 'abc');
    await alice.waitInView((d) => ((d.querySelector('input[name=email]') as HTMLInputElement | null)?.value.length ?? 0) > 0, 5000, 'typing');
    t.notMatch(await alice.inView((d) => (d.querySelector('input[name=email]') as HTMLInputElement).value), /abc/, 'typing shows in the view, masked');
    await visitor.evaluate(() => {
      const filler = document.createElement('div');
      filler.id = 'filler';
      filler.style.height = '2000px';
      filler.textContent = 'filler';
      document.body.append(filler);
    });
    await alice.waitInView((d) => d.getElementById('filler'), 5000, 'the filler');
    await visitor.evaluate(() => window.scrollTo(0, 700));
    await alice.waitInView((d) => Math.abs((d.defaultView?.scrollY ?? 0) - 700) < 2, 5000, 'the scroll');
    t.pass('scroll followed');
    await visitor.evaluate(() => window.scrollTo(0, 0));
    await alice.waitInView((d) => (d.defaultView?.scrollY ?? 1) === 0, 5000, 'scroll back');

    // The visitor's mouse and clicks show in the view (rrweb's cursor).
    await visitor.mouse.move(300, 120);
    await a.waitForFunction(() => {
      const m = document.querySelector('#stage .replayer-mouse') as HTMLElement | null;
      return m && Math.abs(parseFloat(m.style.left) - 300) < 2 && Math.abs(parseFloat(m.style.top) - 120) < 2;
    }, null, { timeout: 5000 });
    t.pass("the visitor's cursor is shown where it is");

    // Masked canaries never reach the agent's DOM.
    const agentDom = (await a.content()) + (await alice.inView((d) => d.documentElement.outerHTML));
    t.notOk(agentDom.includes(canary), 'the card number never appears in the agent page');
    t.notOk(agentDom.includes('account balance'), 'data-cobrowse-hidden content never appears');

    // The agent's pointer shows on the visitor's page, where the agent put it.
    const addInView = await alice.pointOf('#add');
    await a.mouse.move(addInView.x, addInView.y);
    await visitor.waitForFunction(() => document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-pointer]'), null, { timeout: 5000 });
    await sleep(150);
    const [pointerBox, addBox] = await visitor.evaluate(() => {
      const p = document.querySelector('cobrowse-ui')!.shadowRoot!.querySelector('[data-cobrowse-pointer]')!.getBoundingClientRect();
      const b = document.getElementById('add')!.getBoundingClientRect();
      return [{ x: p.left, y: p.top }, { x: b.left + b.width / 2, y: b.top + b.height / 2 }];
    });
    t.ok(Math.abs(pointerBox.x - addBox.x) <= 3 && Math.abs(pointerBox.y - addBox.y) <= 3, `pointer lands on the same spot (${JSON.stringify(pointerBox)} vs ${JSON.stringify(addBox)})`);

    // Highlight: drag a rectangle in the view.
    await a.click('#tool-highlight');
    await a.mouse.move(addInView.x - 40, addInView.y - 20);
    await a.mouse.down();
    await a.mouse.move(addInView.x + 40, addInView.y + 20, { steps: 4 });
    await a.mouse.up();
    await visitor.waitForFunction(() => document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-highlight]'), null, { timeout: 5000 });
    t.pass('highlight drawn on the visitor page');

    // Control: request, the visitor grants, an agent click changes the visitor's page, typing fills a field.
    await a.click('#tool-control');
    await allowFromKeyboard(visitor, 'Allow control');
    await a.waitForFunction(() => document.getElementById('tool-control')?.dataset.granted === 'true', null, { timeout: 5000 });
    t.equal(await a.getAttribute('#tool-layer', 'data-mode'), 'control', 'control mode on once granted');
    await a.mouse.click(addInView.x, addInView.y);
    await visitor.waitForFunction(() => document.querySelectorAll('#cart li').length === 2, null, { timeout: 5000 });
    t.pass('an agent click added an item on the visitor page');
    await alice.waitInView((d) => d.querySelectorAll('#cart li').length === 2, 5000, 'the click result in the view');
    for (const miss of await alice.openTyping('input[name=email]')) t.comment(`a click missed the field: ${miss}`);
    await a.fill('#type-text', 'help@example.com');
    await visitor.waitForFunction(() => (document.querySelector('input[name=email]') as HTMLInputElement).value === 'help@example.com', null, { timeout: 5000 });
    t.pass('agent typing reached the visitor field');
    // The wheel scrolls the visitor's page while in control.
    await a.mouse.move(addInView.x, addInView.y);
    await a.mouse.wheel(0, 300);
    await visitor.waitForFunction(() => window.scrollY > 100, null, { timeout: 5000 });
    t.pass('agent wheel scrolled the visitor page');

    // A second agent watches the same visitor at the same time.
    const bob = await openViewer(browser, base, await r.mint('bob', 'Bob'), { width: 1000, height: 700 });
    await bob.watch(visitorId);
    await allowFromKeyboard(visitor, 'Allow');
    await bob.waitState('live', 15_000);
    await visitor.click('#add');
    await bob.waitInView((d) => d.querySelectorAll('#cart li').length === 3, 5000, 'bob sees the third item');
    await alice.waitInView((d) => d.querySelectorAll('#cart li').length === 3, 5000, 'alice sees the third item');
    t.pass('two agents watch the same visitor');

    // A third agent is refused.
    const carol = await openViewer(browser, base, await r.mint('carol', 'Carol'), { width: 1000, height: 700 });
    await carol.watch(visitorId);
    const deny = visitor.getByRole('button', { name: 'Deny', exact: true });
    await deny.click();
    await carol.waitState('refused');
    t.equal(await carol.page.locator('#stage iframe').count(), 0, 'refused: nothing shown');

    // The visitor reloads: the agent sees "visitor left", then follows them back.
    const before = Number(await a.getAttribute('#stage', 'data-full-snapshots'));
    await visitor.reload();
    await a.waitForFunction((n) => Number(document.getElementById('stage')!.dataset.fullSnapshots) > n && document.body.dataset.state === 'live', before, { timeout: 15_000 });
    t.ok((await alice.states()).includes('visitor-left'), 'the agent was told the visitor left');
    await alice.waitInView((d) => d.body?.textContent?.includes('Acme Shop'), 5000, 'the page again after the reload');

    // The relay restarts: the agent shows "reconnecting", reconnects with backoff and rejoins the same visitor.
    await r.stop();
    await alice.waitState('reconnecting', 10_000);
    r = await startNpmRelay(port, { dataDir: r.dataDir, secretKey: r.secretKey });
    await alice.waitState('live', 30_000);
    await visitor.click('#add');
    await alice.waitInView((d) => d.querySelectorAll('#cart li').length >= 1 && d.body.textContent!.includes('Item'), 5000, 'live after the restart');
    t.pass('rejoined the same visitor after the relay restarted');

    // Alice ends the session: her view clears, and her pointer goes from the visitor's page.
    await a.click('#end');
    await alice.waitState('idle');
    t.equal(await a.locator('#stage iframe').count(), 0, 'the view is cleared');
    await visitor.waitForFunction(() => !document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-pointer="alice"]'), null, { timeout: 5000 });
    t.equal(await shadowCount(visitor, '[data-cobrowse-pointer="alice"]'), 0, "the agent's pointer is gone from the visitor page");

    // The visitor stops sharing: Bob's session ends.
    if (await bob.state() === 'live') {
      await visitor.evaluate(() => (window as any).Cobrowse.stop());
      await bob.waitState('ended');
      t.equal(await bob.page.locator('#stage iframe').count(), 0, 'ended: the view is cleared');
    }

    t.same(alice.errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e)), [], 'no errors or CSP violations in the viewer');
    t.same(visitorErrors, [], 'no uncaught errors on the visitor page');
  });

  t.test('signing in: the link `npm start` prints, a pasted token, a bad token', async (t) => {
    // The relay as `npm start` runs it: its own process, embedded store, demo account, printed links.
    const relay = await startNpmRelay(await freePort());
    t.teardown(() => relay.stop());
    const base = relay.base;
    const link = relay.agentLink;
    t.match(link, new RegExp(`^${base}/agent/#token=`), 'npm start prints the agent sign-in link');
    const token = new URL(link).hash.slice('#token='.length);

    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const requested: string[] = [];
    page.on('request', (req) => requested.push(req.url()));
    await page.goto(link);
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 10_000 });
    t.equal(new URL(page.url()).hash, '', 'the fragment is gone from the address bar');
    t.equal(await page.textContent('#who'), 'Demo Agent');
    t.notOk(requested.some((u) => u.includes(token)), 'the token is in no URL the browser requested');
    const entries = await page.evaluate(() => ((window as any).navigation?.entries() ?? []).map((e: { url: string }) => e.url) as string[]);
    t.ok(entries.length > 0 && entries.every((u) => !u.includes('token')), 'and not in the session history either');

    // Sign out, then sign in with the token pasted (as one minted by the customer's backend would be).
    await page.click('#signout');
    await page.waitForFunction(() => document.body.dataset.state === 'signed-out');
    t.equal(await page.evaluate(() => sessionStorage.getItem('cobrowse.agentToken')), null, 'signing out forgets the token');
    await page.fill('#token', 'not a token');
    await page.click('#signin button[type=submit]');
    t.match(await page.textContent('#signin-error'), /does not look like an agent token/, 'a malformed token is refused on the spot');
    await page.fill('#token', token);
    await page.click('#signin button[type=submit]');
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 10_000 });
    t.pass('a pasted token signs in');

    // A well-formed token the relay does not accept: back to the sign-in form, with the reason.
    await page.click('#signout');
    const [h, p] = token.split('.');
    await page.fill('#token', `${h}.${p}.${'A'.repeat(43)}`);
    await page.click('#signin button[type=submit]');
    await page.waitForFunction(() => document.body.dataset.state === 'signed-out' && document.getElementById('signin-error')!.textContent !== '', null, { timeout: 10_000 });
    t.match(await page.textContent('#signin-error'), /did not accept your agent token/, 'a token with a bad signature is refused, with a reason');
  });
}
