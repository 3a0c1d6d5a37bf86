/**
 * What the visitor is told and what the agent's tools do, end to end (npm start, the demo page,
 * the agent viewer, real Chromium):
 * - the visitor is told when an agent starts watching, and when the agent ends the session;
 *   after End session, Watch asks the visitor again (never a silent resume);
 * - the support code typed as shown ("477 005") finds the visitor; its popup closes on Escape
 *   and when sharing starts;
 * - remote typing into a filled field replaces its value with exactly what the agent typed
 *   (the box starts empty, never with the mask); a card field is refused in the viewer, with a reason.
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { startNpmRelay } from '../../helpers/npmStart.ts';
import { freePort } from '../../helpers/relay.ts';
import { allowFromKeyboard, openViewer, shadowCount } from '../../helpers/viewerPage.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('the visitor sees who watches and when; typing replaces; protected fields are refused up front', async (t) => {
    const r = await startNpmRelay(await freePort());
    t.teardown(() => r.stop());
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const vctx = await browser.newContext({ viewport: { width: 800, height: 500 } });
    const visitor = await vctx.newPage();
    const visitorErrors: string[] = [];
    visitor.on('pageerror', (e) => visitorErrors.push(e.message));
    await visitor.goto(`${r.base}/demo/`);
    await visitor.waitForFunction(() => document.getElementById('vid')?.textContent !== 'connecting…', null, { timeout: 10_000 });
    const visitorId = (await visitor.textContent('#vid'))!;
    await visitor.fill('input[name=email]', 'visitor.own@example.com');
    const notice = () => visitor.evaluate(() => document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-notice]')?.textContent ?? '');
    const waitNotice = (re: RegExp) => visitor.waitForFunction((src) => new RegExp(src).test(document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-notice]')?.textContent ?? ''), re.source, { timeout: 10_000 });

    // The support code, read out with its space, finds the visitor; Escape closes the popup.
    await visitor.click('#code');
    const codeEl = visitor.locator('cobrowse-ui [data-cobrowse-code]');
    await codeEl.waitFor({ timeout: 5000 });
    const shown = (await codeEl.textContent())!;
    t.match(shown, /^\d{3} \d{3}$/, 'the code is shown in two groups');
    await visitor.keyboard.press('Escape');
    await codeEl.waitFor({ state: 'detached', timeout: 5000 });
    t.pass('Escape closes the code popup');
    await visitor.click('#code');
    await codeEl.waitFor({ timeout: 5000 });
    const code2 = (await codeEl.textContent())!;

    const alice = await openViewer(browser, r.base, await r.mint('alice', 'Alice'));
    const a = alice.page;
    await alice.waitState('idle');
    await a.fill('#search', code2);
    const row = a.locator(`li[data-visitor-id="${visitorId}"]`);
    await row.waitFor({ timeout: 10_000 });
    t.pass(`found by the code typed as shown ("${code2}")`);
    const rowText = (await row.textContent())!;
    t.equal(rowText.split(visitorId).length - 1, 1, 'the visitor id appears once in the row');

    // Watch: the visitor is asked; sharing starts; the code popup goes; a notice says who is watching.
    await alice.watch(visitorId);
    await allowFromKeyboard(visitor, 'Allow');
    await alice.waitState('live', 15_000);
    await waitNotice(/Alice is now viewing this page/);
    t.pass('the visitor is told that Alice is viewing');
    t.equal(
      await a.evaluate(() => {
        const m = document.querySelector('#stage .replayer-mouse');
        return m ? getComputedStyle(m).visibility : 'none';
      }),
      'hidden',
      'the visitor\'s cursor is not drawn at the top-left before they move the mouse',
    );
    await visitor.mouse.move(200, 150);
    await a.waitForFunction(() => {
      const m = document.querySelector('#stage .replayer-mouse');
      return m && getComputedStyle(m).visibility === 'visible';
    }, null, { timeout: 5000 });
    t.pass('and is drawn once they do');
    await codeEl.waitFor({ state: 'detached', timeout: 5000 });
    t.pass('the code popup closes once sharing starts');

    // Control; typing into the filled email field replaces its value.
    await a.click('#tool-control');
    await allowFromKeyboard(visitor, 'Allow control');
    await a.waitForFunction(() => document.getElementById('tool-control')?.dataset.granted === 'true', null, { timeout: 5000 });
    for (const miss of await alice.openTyping('input[name=email]')) t.comment(`a click missed the field: ${miss}`);
    t.equal(await a.inputValue('#type-text'), '', 'the typing box starts empty (not with the mask)');
    await a.locator('#type-text').pressSequentially('agent.typed@example.com');
    await visitor.waitForFunction(() => (document.querySelector('input[name=email]') as HTMLInputElement).value === 'agent.typed@example.com', null, { timeout: 5000 }).catch(() => {});
    t.equal(await visitor.inputValue('input[name=email]'), 'agent.typed@example.com', 'the field holds exactly what the agent typed');

    // The card field: refused in the viewer, with a reason, and no typing box.
    await a.click('#typebox button[type=reset], #typebox [type=reset]').catch(() => {});
    const cardAt = await alice.pointOf('input[name=card]');
    await a.mouse.click(cardAt.x, cardAt.y);
    await a.waitForFunction(() => /protected/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 5000 });
    t.ok(await a.locator('#typebox').isHidden(), 'no typing box for a card field');
    t.match(await a.textContent('#status'), /card/, 'the agent is told why');

    // End session: the visitor is told; Watch again asks again.
    await a.click('#end');
    await alice.waitState('idle');
    await waitNotice(/Alice ended the session/);
    t.pass('the visitor is told the agent ended the session');
    t.equal(await shadowCount(visitor, '.bar'), 0, 'and the sharing bar is gone');
    await alice.watch(visitorId);
    await visitor.getByRole('alertdialog', { name: 'Alice wants to see this page' }).waitFor({ timeout: 10_000 });
    t.pass('watching again after End session asks the visitor again');
    await allowFromKeyboard(visitor, 'Allow');
    await alice.waitState('live', 15_000);
    await waitNotice(/Alice is now viewing this page/);
    t.match(await notice(), /Alice/, 'and the visitor is told again');

    t.same(visitorErrors, [], 'no uncaught errors on the visitor page');
  });
}
