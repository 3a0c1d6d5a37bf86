/**
 * Masking leak tests in real Chromium: every case on the full-snapshot path and on the mutation
 * path. Reads every byte the page sent to the relay (inflating compressed frames) and finds no
 * canary; positive markers prove each path was really captured. The site runs under a strict CSP.
 */
import fs from 'node:fs';
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectAgent } from '../../helpers/clients.ts';
import { answerPrompt, openEmbedPage } from '../../helpers/embedPage.ts';
import { decodeFrame, isFullSnapshotFrame } from '../../helpers/frames.ts';
import { filesUnder, startTestRelay } from '../../helpers/relay.ts';
import { startSite } from '../../helpers/site.ts';

const CANARY = /CANARY[-A-Z0-9@.]*/g;

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('no canary leaves the browser, on the snapshot path and the mutation path', async (t) => {
    const site = await startSite();
    t.teardown(site.close);
    const r = await startTestRelay({}, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    site.relay = `http://127.0.0.1:${r.port}`;
    site.key = r.acme.publicKey;
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const ep = await openEmbedPage(browser, `${site.origin}/leak.html`);
    const { page } = ep;
    const visitorId = await ep.visitorId();
    const frame = page.frameLocator('#frame');

    // Values that exist before sharing starts: they must be masked in the full snapshot.
    await page.locator('#typed').pressSequentially('CANARY-TYPED-1');
    await page.locator('#pw').pressSequentially('CANARY-PW-1');
    await page.evaluate(() => {
      (document.getElementById('pw') as HTMLInputElement).type = 'text'; // "show password"
      (document.getElementById('scripted') as HTMLInputElement).value = 'CANARY-SCRIPTED-1';
    });
    await frame.locator('#ftyped').pressSequentially('CANARY-IFRAME-TYPED-1');
    await page.locator('#si').fill('CANARY-SHADOW-TYPED-1');
    t.equal(ep.sent.filter((f) => f.binary).length, 0, 'nothing captured before the visitor shares');

    const agent = await connectAgent(r.port, r.token(r.acme, 'alice', 'Alice'));
    t.teardown(() => agent.close());
    agent.send({ t: 'join', visitorId });
    await answerPrompt(page, 'Alice wants to see this page', 'Allow');
    await agent.next('joined', 10_000);
    await agent.until(() => agent.frames.find(isFullSnapshotFrame), 10_000, 'the full snapshot');
    const received = () => agent.frames.map(decodeFrame).join('\n');
    await agent.until(() => received().includes('VISIBLE-IFRAME') && received().includes('VISIBLE-SHADOW'), 10_000, 'iframe and shadow content');
    t.match(decodeFrame(agent.frames.find(isFullSnapshotFrame)!), 'VISIBLE-INIT', 'the snapshot carries the page');

    // The same cases arriving as mutations and input events after the snapshot.
    await page.evaluate(() => (window as any).mutate());
    await page.evaluate(() => (window as any).mutateCustom());
    await page.locator('#m-typed').pressSequentially('CANARY-MUT-TYPED-1');
    await page.locator('#m-pw').pressSequentially('CANARY-MUT-PW-1');
    await page.evaluate(() => ((document.getElementById('m-pw') as HTMLInputElement).type = 'text'));
    await page.locator('#m-pw').pressSequentially('CANARY-MUT-PW-2');
    await page.locator('#pw').pressSequentially('CANARY-MUT-PW-3');
    await page.locator('#m-ta').pressSequentially('CANARY-MUT-TEXTAREA-TYPED-1');
    await page.locator('#sel').selectOption({ index: 1 });
    await frame.locator('#m-fi').pressSequentially('CANARY-MUT-IFRAME-TYPED-1');
    await page.locator('#m-si').pressSequentially('CANARY-MUT-SHADOW-TYPED-1');
    await page.locator('#m-editable').focus();
    await page.keyboard.type('CANARY-MUT-EDITABLE-TYPED-1');
    await page.evaluate(() => (window as any).finish());
    await agent.until(() => received().includes('VISIBLE-END'), 10_000, 'the end marker');
    // Playwright reports sent frames asynchronously: wait until its record has caught up too.
    await agent.until(() => ep.sentText().some((f) => f.includes('VISIBLE-END')), 5000, 'the page-side record of the end marker');

    const wire = ep.sentText().join('\n');
    const leaks = [...new Set(wire.match(CANARY) ?? [])];
    t.same(leaks, [], 'no canary in any byte the page sent');
    t.same([...new Set(received().match(CANARY) ?? [])], [], 'and none in what the agent received');
    for (const marker of ['VISIBLE-MUT', 'VISIBLE-MUT-IFRAME', 'VISIBLE-MUT-SHADOW', 'VISIBLE-MUT-CUSTOM', 'VISIBLE-END']) {
      t.ok(wire.includes(marker), `the mutation path was captured (${marker})`);
    }
    t.ok(wire.includes('••••••'), 'typed values arrive as the fixed mask');
    t.ok(ep.sent.some((f) => f.binary && (f.binary[0] === 3 || f.binary[0] === 4)), 'large frames are compressed in the browser');
    t.ok(ep.sent.some((f) => f.binary && f.binary[0] === 2 || f.binary?.[0] === 4), 'incremental frames were sent');

    // Nor does anything reach the relay's files or logs.
    await r.stop();
    const onDisk = [...filesUnder(r.dataDir), r.logFile].filter((f) => fs.readFileSync(f).includes('CANARY'));
    t.same(onDisk, [], 'no canary in DATA_DIR or the log');
    t.same(await ep.violations(), [], 'no CSP violation under the strict policy');
    t.same(ep.errors, [], 'no console error or uncaught exception on the host page');
  });
}
