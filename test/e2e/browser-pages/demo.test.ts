/** The demo customer page in real Chromium streams a masked snapshot to an agent through the relay. */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectAgent } from '../../helpers/clients.ts';
import { decodeFrame as decode } from '../../helpers/frames.ts';
import { freePort, startTestRelay } from '../../helpers/relay.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('demo page -> relay -> agent, masked before it leaves the browser', async (t) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const r = await startTestRelay({ PORT: String(port), PUBLIC_URL: base });
    t.teardown(r.stop);
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/demo/`);
    await page.waitForFunction(() => document.getElementById('vid')?.textContent !== 'connecting…');
    const visitorId = await page.textContent('#vid');
    const canary = 'TYPED-CANARY-4242';
    await page.fill('input[name=card]', canary);

    const agent = await connectAgent(r.port, r.token(r.acme, 'alice', 'Alice'));
    agent.send({ t: 'join', visitorId: visitorId! });
    // The consent prompt: an accessible dialog in the embed's shadow root.
    await page.getByRole('alertdialog', { name: 'Alice wants to see this page' }).waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await agent.next('joined', 10_000);
    await agent.until(() => agent.frames.some((f) => f[0] === 1 || f[0] === 3), 10_000, 'first snapshot');
    const at = agent.frames.findIndex((f) => f[0] === 1 || f[0] === 3);
    const first = agent.frames[at];
    // The page's web font and images (asset frames, kind 5) come just before the snapshot that uses them.
    const assets = agent.frames.slice(0, at);
    t.ok(assets.length >= 2 && assets.every((f) => f[0] === 5), `${assets.length} asset frames before the full snapshot`);
    t.ok(assets.some((f) => f.includes('font/woff2')) && assets.some((f) => f.includes('image/svg+xml')), 'the web font and the images');
    const text = decode(first);
    t.match(text, 'Acme Shop', 'the page arrived');
    t.notMatch(text, canary, 'typed input is masked in the browser');
    t.notMatch(text, 'account balance', 'data-cobrowse-hidden content never leaves the browser');

    await page.click('#add');
    await agent.until(() => agent.frames.some((f) => decode(f).includes('Item 1')), 10_000, 'the DOM change');
    t.ok(agent.frames.every((f) => !decode(f).includes(canary)), 'no frame ever carries the canary');

    // identify() then forget(): the visitor's own erasure, authorised by its visitor token.
    await page.evaluate(() => (window as any).Cobrowse.identify({ userId: 'u-77', email: 'v@example.com' }));
    const store = r.relay.ctx.store;
    const deadline = Date.now() + 5000;
    while (!(await store.getVisitor(r.acme.accountId, visitorId!))?.userId && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    t.equal((await store.getVisitor(r.acme.accountId, visitorId!))?.userId, 'u-77', 'identify() is stored');
    await page.evaluate(() => (window as any).Cobrowse.forget());
    await agent.next('ended', 5000);
    t.equal(await store.getVisitor(r.acme.accountId, visitorId!), null, 'forget() erased the record');
    // The page hears the 4004 close on its own schedule: wait for it (bounded) rather than race it.
    await page.waitForFunction(() => localStorage.getItem('cobrowse.vid') === null, null, { timeout: 5000 }).catch(() => {});
    t.equal(await page.evaluate(() => localStorage.getItem('cobrowse.vid')), null, 'and the page dropped its visitor id');
    t.same(errors, [], 'no console errors on the host page');
  });
}
