/**
 * The embed admits for an agent only the key the visitor agreed to (review finding 2), with a real
 * relay patched in this process into a hostile one:
 * - after a consented, encrypted join, the relay sends the tab a second `agent-joined` for the same
 *   agent id carrying a key of its own: the embed wraps no content key for that key, refuses it and
 *   says why on the page;
 * - an agent that left (connection lost) and comes back within the consent memory with another
 *   viewer key is not let in silently: the prompt is shown again, with the new key's code.
 */
import t from 'tap';
import { makeAgreementPair, type E2eKeyMsg } from '../../../protocol/index.ts';
import type { VisitorToRelay } from '../../../protocol/control.ts';
import type { TabData } from '../../../relay/sessions/types.ts';
import { sendMessage } from '../../../relay/sessions/send.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { startE2eRig, type E2eRig } from '../../helpers/e2eRig.ts';
import { allowFromKeyboard, openViewer } from '../../helpers/viewerPage.ts';
import type { Browser, Page } from 'playwright-core';

async function visit(browser: Browser, rig: E2eRig) {
  const page = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
  await page.goto(rig.siteUrl);
  const vid = await page.waitForFunction(() => (window as any).__events.find((e: any) => e.name === 'ready')?.detail.visitorId).then((h) => h.jsonValue() as Promise<string>);
  return { page, vid };
}

const notice = (page: Page) => page.evaluate(() => document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-notice]')?.textContent ?? '');

/** Records every `e2e-key` the embed sends (by the key it was wrapped for) and the tab it came from. */
function recordKeys(rig: E2eRig) {
  const router = rig.relay.relay.ctx.router;
  const wrappedFor: E2eKeyMsg[] = [];
  const seen: { tab?: TabData } = {};
  const onVisitor = router.onVisitorMessage.bind(router);
  router.onVisitorMessage = (tab: TabData, msg: VisitorToRelay) => {
    if (msg.t === 'e2e-key') {
      wrappedFor.push(msg);
      seen.tab = tab;
    }
    return onVisitor(tab, msg);
  };
  return { wrappedFor, seen };
}

/** The code in the consent prompt now on the page (waits for the prompt). */
async function promptCode(page: Page): Promise<string> {
  const prompt = page.getByRole('alertdialog', { name: 'Alice wants to see this page' });
  await prompt.waitFor({ timeout: 10_000 });
  const code = /Verification code: (\d{3} \d{3})/.exec((await prompt.textContent())!)?.[1];
  if (!code) throw new Error(`no code in the prompt: ${await prompt.textContent()}`);
  return code;
}

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium)');
} else {
  t.test('a second agent-joined for the same agent with another key gets no content key', async (t) => {
    const rig = await startE2eRig();
    t.teardown(rig.close);
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const rec = recordKeys(rig);
    const viewer = await openViewer(browser, rig.base, rig.relay.token(rig.relay.acme, 'alice', 'Alice'));
    await viewer.waitState('idle');
    const v = await visit(browser, rig);
    await viewer.watch(v.vid, '');
    const code = await promptCode(v.page);
    await allowFromKeyboard(v.page, 'Allow');
    await viewer.waitState('live', 15_000);
    await viewer.waitInView((d) => d.getElementById('h')?.textContent?.includes('CANARYtext91b2e7'), 10_000, 'the page in the view');
    t.ok(rec.wrappedFor.length > 0 && rec.seen.tab, `the content key went to the consented viewer (code ${code})`);
    const real = rec.wrappedFor[0]!;
    const realKeys = new Set(rec.wrappedFor.map((m) => m.agentKey));
    t.equal(realKeys.size, 1, 'one key wrapped for so far');

    // The relay turns: the same agent, as far as the bar can tell, joins again with the relay's key.
    const fake = await makeAgreementPair();
    sendMessage(rec.seen.tab!.ws, rec.seen.tab!, { t: 'agent-joined', agent: { id: real.agentId, name: 'Alice', key: fake.publicKey } });
    const refused = await v.page.waitForFunction(() => (window as any).__events.some((e: any) => e.name === 'e2e-refused'), null, { timeout: 10_000 })
      .then(() => v.page.evaluate(() => (window as any).__events.filter((e: any) => e.name === 'e2e-refused')));
    t.equal(refused.length, 1, 'the page gets one e2e-refused event');
    t.match(refused[0]?.detail.reason, /not the one you agreed to/, 'naming the reason');
    t.match(await notice(v.page), /Did not share with Alice: .*not the one you agreed to/, 'and the visitor is told why, on the page');
    // The embed ends the agent on refusal; its viewer hears of it only after every key the embed sent.
    await viewer.page.waitForFunction(() => document.body.dataset.state !== 'live', null, { timeout: 15_000 });
    t.equal(rec.wrappedFor.filter((m) => m.agentKey === fake.publicKey).length, 0, 'no content key was ever wrapped for the relay\'s key');
    t.ok(rec.wrappedFor.every((m) => m.agentKey === real.agentKey), 'every content key went to the consented key only');
  });

  t.test('a rejoin within the consent memory with another viewer key asks again, with the new code', async (t) => {
    const rig = await startE2eRig();
    t.teardown(rig.close);
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const token = rig.relay.token(rig.relay.acme, 'alice', 'Alice');
    const first = await openViewer(browser, rig.base, token);
    await first.waitState('idle');
    const v = await visit(browser, rig);
    await first.watch(v.vid, '');
    const code1 = await promptCode(v.page);
    await allowFromKeyboard(v.page, 'Allow');
    await first.waitState('live', 15_000);
    await first.waitInView((d) => d.getElementById('h')?.textContent?.includes('CANARYtext91b2e7'), 10_000, 'the page in the view');

    // The viewer page goes away (not "end"): the agreement stays in the consent memory.
    await first.page.close();
    await v.page.waitForFunction(() => /stopped viewing/.test(document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-notice]')?.textContent ?? ''), null, { timeout: 15_000 });

    // Back with a new viewer page: a new key pair, so a new key for the same agent id.
    const second = await openViewer(browser, rig.base, token);
    await second.waitState('idle');
    await second.watch(v.vid, '');
    const code2 = await promptCode(v.page);
    t.pass('the visitor is asked again');
    t.not(code2, code1, `with the new key's code (${code1} before, ${code2} now)`);
    await allowFromKeyboard(v.page, 'Allow');
    await second.waitState('live', 15_000);
    await second.waitInView((d) => d.getElementById('h')?.textContent?.includes('CANARYtext91b2e7'), 10_000, 'the page in the new view');
    const agentCode = await second.page.waitForFunction(() => /verification code (\d{3} \d{3})/.exec(document.getElementById('e2e')?.textContent ?? '')?.[1], null, { timeout: 10_000 }).then((h) => h.jsonValue());
    t.equal(agentCode, code2, 'the new prompt showed the code of the key now in use');
  });
}
