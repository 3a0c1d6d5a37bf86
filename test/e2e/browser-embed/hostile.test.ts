/**
 * A page that hides, covers, shrinks, restyles or removes the embed's UI, in real Chromium: for each
 * case, applied at load (before the prompt) and while sharing, either the UI is visible (checked
 * from outside the embed: rendered, big enough, and a real mouse click at its centre lands on it and
 * works) or nothing is shared (the agent is refused or the session ends with `ui_hidden`, and no
 * content frame leaves the page after that).
 */
import t from 'tap';
import type { Page } from 'playwright-core';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectAgent, type Msg } from '../../helpers/clients.ts';
import { openEmbedPage } from '../../helpers/embedPage.ts';
import { decodeFrame, isFullSnapshotFrame } from '../../helpers/frames.ts';
import { startTestRelay } from '../../helpers/relay.ts';
import { startSite } from '../../helpers/site.ts';

const CASES = ['notdefined', 'display-none', 'overlay', 'opacity', 'scale', 'unset', 'remove', 'inline-style', 'hide-inside'];

/** Where a real click would land on this element of the embed's UI, if it is visibly there. */
function visibleAt(page: Page, selector: string): Promise<{ x: number; y: number }> {
  return page
    .waitForFunction((sel) => {
      const host = document.querySelector('cobrowse-ui');
      const root = host?.shadowRoot;
      const el = root?.querySelector(sel);
      if (!host || !root || !el || !el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return null;
      const r = el.getBoundingClientRect();
      if (r.width < 16 || r.height < 16) return null;
      const x = r.left + r.width / 2;
      const y = r.top + r.height / 2;
      if (document.elementFromPoint(x, y) !== host || !el.contains(root.elementFromPoint(x, y))) return null;
      return { x, y };
    }, selector, { timeout: 10_000, polling: 50 })
    .then((h) => h.jsonValue() as Promise<{ x: number; y: number }>);
}

/** The first of two waits; the loser's later failure is ignored. */
function first<A, B>(a: Promise<A>, b: Promise<B>): Promise<{ a?: A; b?: B }> {
  a.catch(() => {});
  b.catch(() => {});
  return Promise.race([a.then((v) => ({ a: v })), b.then((v) => ({ b: v }))]);
}

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('hostile pages: the UI is visible or nothing is shared', async (t) => {
    const site = await startSite();
    t.teardown(site.close);
    const r = await startTestRelay({}, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    site.relay = `http://127.0.0.1:${r.port}`;
    site.key = r.acme.publicKey;
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const outcomes: string[] = [];

    for (const when of ['load', 'sharing']) {
      for (const name of CASES) {
        await t.test(`${name}, ${when === 'load' ? 'before the prompt' : 'while sharing'}`, async (t) => {
          const ep = await openEmbedPage(browser, `${site.origin}/hostile.html?case=${name}&when=${when}`);
          t.teardown(() => ep.page.context().close());
          const { page } = ep;
          const agent = await connectAgent(r.port, r.token(r.acme, 'alice', 'Alice'));
          t.teardown(() => agent.close());
          agent.send({ t: 'join', visitorId: await ep.visitorId() });

          // The consent prompt: visible and answered by a real click, or refused for the visitor.
          let prompt = await first(visibleAt(page, '[role=alertdialog] button.primary'), agent.next('refused', 10_000));
          if (prompt.a) {
            // Seen, and clicked; a page fighting the prompt may still hide it before the click lands.
            await page.mouse.click(prompt.a.x, prompt.a.y);
            const answer = await first(agent.next('joined', 10_000), agent.next('refused', 10_000));
            if (answer.b) prompt = { b: answer.b };
          }
          if (prompt.b) {
            t.equal(prompt.b.reason, 'ui_hidden', 'the agent is told the page hid the prompt');
            t.equal(agent.frames.length, 0, 'and nothing was shared');
            t.ok((await ep.events('error')).some((e) => e.detail.code === 'ui_hidden'), 'the page is told through on("error")');
            outcomes.push(`${name}/${when}: prompt hidden, refused`);
            return;
          }
          const shared = await first(agent.until(() => agent.frames.find(isFullSnapshotFrame), 10_000, 'the snapshot'), agent.next('ended', 10_000));
          if (when === 'sharing') {
            t.ok(shared.a, 'before the attack, sharing works');
            await page.evaluate(async () => {
              await (window as any).attack();
              (window as any).change('AFTER-ATTACK');
            });
          }

          // While sharing: the bar is visible (a real click on Stop sharing ends it), or sharing ended.
          const bar = await first(visibleAt(page, '.bar button.primary'), agent.next('ended', 10_000));
          if (bar.a) await page.mouse.click(bar.a.x, bar.a.y);
          const ended: Msg = await agent.next('ended', 10_000);
          if (ended.reason === 'visitor_stopped') {
            t.ok(bar.a, 'the bar was visible: a real click on Stop sharing ended the session');
            outcomes.push(`${name}/${when}: UI visible`);
            return;
          }
          t.equal(ended.reason, 'ui_hidden', 'the agent is told the page hid the sharing bar');
          t.notOk(agent.frames.some((f) => decodeFrame(f).includes('AFTER-ATTACK')), 'nothing changed after the attack reached the agent');
          // Nothing leaves the page any more: more changes, then a text message to wait for.
          await page.evaluate(() => {
            (window as any).change('LATER');
            (window as any).Cobrowse.showCode();
          });
          await agent.until(() => ep.sent.some((f) => f.text?.includes('code-request')), 10_000, 'the code request on the wire');
          const after = ep.sent.slice(ep.sent.findIndex((f) => f.text?.includes('"t":"end"')));
          t.notOk(after.some((f) => f.binary), 'no content frame after sharing ended');
          outcomes.push(`${name}/${when}: bar hidden, sharing ended`);
        });
      }
    }
    t.comment(outcomes.join('\n'));
  });

  t.test('page script cannot answer the prompt: an untrusted click on Allow is no consent', async (t) => {
    const site = await startSite();
    t.teardown(site.close);
    const r = await startTestRelay({}, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    site.relay = `http://127.0.0.1:${r.port}`;
    site.key = r.acme.publicKey;
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const ep = await openEmbedPage(browser, `${site.origin}/hostile.html?case=none`);
    const agent = await connectAgent(r.port, r.token(r.acme, 'alice', 'Alice'));
    t.teardown(() => agent.close());
    agent.send({ t: 'join', visitorId: await ep.visitorId() });
    const at = await visibleAt(ep.page, '[role=alertdialog] button.primary');
    await ep.page.evaluate(() => {
      const allow = document.querySelector('cobrowse-ui')!.shadowRoot!.querySelector<HTMLButtonElement>('[role=alertdialog] button.primary')!;
      allow.click();
      allow.dispatchEvent(new MouseEvent('click', { bubbles: true }));
      (window as any).Cobrowse.showCode(); // a text message to wait for: anything the clicks caused went out before it
    });
    await agent.until(() => ep.sent.some((f) => f.text?.includes('code-request')), 10_000, 'the code request on the wire');
    t.notOk(ep.sent.some((f) => f.text?.includes('"t":"consent"')), 'no consent was sent for the scripted clicks');
    t.notOk(agent.has('joined'), 'the agent is still waiting');
    await ep.page.mouse.click(at.x, at.y);
    await agent.next('joined', 10_000);
    t.pass('the visitor\'s own click on the same button does');
  });
}
