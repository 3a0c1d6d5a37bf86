/**
 * A relay that swaps the agent's public key (test/helpers/keySwapRelay.ts: it also re-wraps the
 * content key for the real viewer, so both sides keep working while it reads everything):
 * - with the customer's key pinned in the snippet (`data-agent-key`) and a customer-signed key token
 *   binding the viewer's key (`cnf.jkt`), the embed refuses the agent and says why, to the visitor
 *   and to the agent; the same setup without the swap shares normally (control);
 * - with relay-minted tokens (nothing pinned), the session goes ahead but the verification code in
 *   the consent prompt and the one in the viewer differ.
 */
import crypto from 'node:crypto';
import t from 'tap';
import { E2E_KEY_TOKEN_AUDIENCE } from '../../../protocol/e2e.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { startE2eRig, type E2eRig } from '../../helpers/e2eRig.ts';
import { swapAgentKeys } from '../../helpers/keySwapRelay.ts';
import { allowFromKeyboard, openViewer, type ViewerPage } from '../../helpers/viewerPage.ts';
import type { Browser } from 'playwright-core';

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function keyToken(privateKey: crypto.KeyObject, sub: string, jkt: string): string {
  const head = b64u(JSON.stringify({ alg: 'ES256', typ: 'JWT' }));
  const body = b64u(JSON.stringify({ aud: E2E_KEY_TOKEN_AUDIENCE, sub, exp: Math.floor(Date.now() / 1000) + 600, cnf: { jkt } }));
  const sig = crypto.sign('sha256', Buffer.from(`${head}.${body}`), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${b64u(sig)}`;
}

async function visit(browser: Browser, rig: E2eRig) {
  const page = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
  await page.goto(rig.siteUrl);
  const vid = await page.waitForFunction(() => (window as any).__events.find((e: any) => e.name === 'ready')?.detail.visitorId).then((h) => h.jsonValue() as Promise<string>);
  return { page, vid };
}

const notice = (page: import('playwright-core').Page) => page.evaluate(() => document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-notice]')?.textContent ?? '');

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium)');
} else {
  t.test('pinned customer key: the embed refuses a substituted agent key and says why', async (t) => {
    const rig = await startE2eRig();
    t.teardown(rig.close);
    const signer = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    rig.snippetAttrs = `data-agent-key="ES256:${signer.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}"`;
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const viewer: ViewerPage = await openViewer(browser, rig.base, rig.relay.token(rig.relay.acme, 'alice', 'Alice'));
    await viewer.waitState('idle');
    const { jkt } = await viewer.page.evaluate(() => (window as any).cobrowseViewer.publicKey());
    await viewer.page.evaluate((tok) => (window as any).cobrowseViewer.setKeyToken(tok), keyToken(signer.privateKey, 'alice', jkt));

    // Control: an honest relay, a valid token: shared, encrypted.
    const v1 = await visit(browser, rig);
    await viewer.watch(v1.vid, '');
    await allowFromKeyboard(v1.page, 'Allow');
    await viewer.waitState('live', 15_000);
    await viewer.waitInView((d) => d.getElementById('h')?.textContent?.includes('CANARYtext91b2e7'), 10_000, 'the page in the view');
    t.pass('with the key the token binds, the pinned embed shares');
    await viewer.page.click('#end');
    await viewer.waitState('idle');

    // The relay turns: the viewer's key is swapped on the way to the embed.
    const swap = await swapAgentKeys(rig.relay.relay.ctx.router);
    const v2 = await visit(browser, rig);
    await viewer.watch(v2.vid, '');
    await viewer.waitState('refused', 15_000);
    t.ok(swap.swappedJoins > 0, 'the relay swapped the key');
    t.match(await viewer.page.textContent('#message-text'), /refused this viewer's end-to-end encryption key/, 'the agent is told its key was refused');
    const refused = await v2.page.evaluate(() => (window as any).__events.filter((e: any) => e.name === 'e2e-refused'));
    t.equal(refused.length, 1, 'the page gets one e2e-refused event');
    t.match(refused[0]?.detail.reason, /not the one its token binds/, 'naming the reason');
    t.match(await notice(v2.page), /Did not share with Alice: .*substituted/, 'and the visitor is told why, on the page');
    t.equal(await v2.page.getByRole('alertdialog').count(), 0, 'no consent prompt was shown for it');
    t.equal(swap.stolen.size, 0, 'no content key was ever wrapped for the attacker\'s key');
  });

  t.test('relay-minted tokens: the swap shows as two different verification codes', async (t) => {
    const rig = await startE2eRig();
    t.teardown(rig.close);
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const swap = await swapAgentKeys(rig.relay.relay.ctx.router);
    const viewer = await openViewer(browser, rig.base, rig.relay.token(rig.relay.acme, 'alice', 'Alice'));
    await viewer.waitState('idle');
    const v = await visit(browser, rig);
    await viewer.watch(v.vid, '');
    const prompt = v.page.getByRole('alertdialog', { name: 'Alice wants to see this page' });
    await prompt.waitFor({ timeout: 10_000 });
    const visitorCode = /Verification code: (\d{3} \d{3})/.exec((await prompt.textContent())!)?.[1];
    t.ok(visitorCode, `the visitor is shown a code (${visitorCode})`);
    await allowFromKeyboard(v.page, 'Allow');
    await viewer.waitState('live', 15_000);
    await viewer.page.waitForFunction(() => /verification code/.test(document.getElementById('e2e')!.textContent!), null, { timeout: 10_000 });
    const agentCode = /verification code (\d{3} \d{3})/.exec((await viewer.page.textContent('#e2e'))!)?.[1];
    t.ok(agentCode, `the agent is shown a code (${agentCode})`);
    t.ok(swap.stolen.size > 0, 'the relay did get the content key (this is the attack the codes expose)');
    t.not(agentCode, visitorCode, 'the two codes differ');
  });
}
