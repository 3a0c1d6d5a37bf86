/**
 * End-to-end encryption across a cluster: an account with `e2e: required` (the default for a new
 * account), the real embed in Chromium on a page whose relay is A, the real agent viewer in Chromium
 * on relay B (through a passive tap), one real nats-server between them. The agent's `join` (with its
 * public key) crosses to A through a remote-agent proxy; the embed's wrapped `e2e-key` must come back
 * to the agent on B. The agent sees the page, both sides show the same verification code, and every
 * binary frame B forwards to the viewer is sealed and carries no canary.
 */
import http from 'node:http';
import t from 'tap';
import { ENCRYPTED_KIND_BIT } from '../../../protocol/frames.ts';
import { AccountService } from '../../../relay/accounts.ts';
import { SqliteStore } from '../../../relay/store/sqlite.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { startCluster } from '../../helpers/cluster.ts';
import { freePort } from '../../helpers/relay.ts';
import { CANARIES, canariesIn } from '../../helpers/e2eRig.ts';
import { startTapProxy } from '../../helpers/tapProxy.ts';
import { allowFromKeyboard, openViewer } from '../../helpers/viewerPage.ts';

// A cluster and two Chromium contexts on a shared 2-core machine: more than tap's default 120 s.
t.setTimeout(300_000);

function page(relay: string, key: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1 id="h">${CANARIES[0]} welcome</h1><p id="p" title="${CANARIES[1]}">${'Lorem ipsum dolor sit amet. '.repeat(10)}</p>
<script>window.__events = []; window.Cobrowse = { q: [['on', ['ready', (d) => window.__events.push({ name: 'ready', detail: d })]]] };</script>
<script src="${relay}/embed.js" data-key="${key}" async></script></body></html>`;
}

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('embed on A, viewer on B, e2e required: the agent sees the page, sealed end to end', async (t) => {
    const c = await startCluster(['A']);
    t.teardown(() => c.stop());
    const [A] = c.relays;
    // Relay B behind a passive tap that its agents go through (its public URL is the tap's).
    const portB = await freePort();
    const tapB = await startTapProxy(portB);
    t.teardown(() => tapB.close());
    const baseB = `http://127.0.0.1:${tapB.port}`;
    await c.startRelay('B', portB, { PUBLIC_URL: baseB });

    // The customer's site, and an account for it created with the product's defaults (e2e required).
    let html = '';
    const site = http.createServer((req, res) => {
      if (req.url === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => site.close(() => r())));
    const siteOrigin = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
    const store = new SqliteStore(c.dataDir);
    const account = await new AccountService(store).create({ name: 'shop', origins: [siteOrigin], requireConsent: true });
    await store.close();
    t.equal(await accountE2e(c.dataDir, account.accountId), 'required', 'a new account requires end-to-end encryption');
    html = page(A.base, account.publicKey);

    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const visitor = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
    const visitorErrors: string[] = [];
    visitor.on('pageerror', (e) => visitorErrors.push(e.message));
    await visitor.goto(`${siteOrigin}/`);
    const vid = await visitor.waitForFunction(() => (window as any).__events.find((e: any) => e.name === 'ready')?.detail.visitorId, null, { timeout: 15_000 }).then((h) => h.jsonValue() as Promise<string>);

    const viewer = await openViewer(browser, baseB, await c.token(account, 'alice', 'Alice'), { width: 1200, height: 800 });
    await viewer.waitState('idle');
    await viewer.watch(vid, '');
    const prompt = visitor.getByRole('alertdialog', { name: 'Alice wants to see this page' });
    await prompt.waitFor({ timeout: 15_000 });
    const promptText = (await prompt.textContent())!;
    const promptCode = /Verification code: (\d{3} \d{3})/.exec(promptText)?.[1];
    t.ok(promptCode, `the visitor on A is asked about the agent on B, with a verification code (${promptCode})`);
    t.match(promptText, /End-to-end encrypted/, 'and told the session is end-to-end encrypted');
    await allowFromKeyboard(visitor, 'Allow');

    await viewer.waitState('live', 20_000);
    await viewer.waitInView((d) => d.getElementById('h')?.textContent?.includes('CANARYtext91b2e7'), 15_000, 'the heading canary');
    t.pass('the viewer on B shows the page of the visitor on A (the content key came back across relays)');
    t.equal(await viewer.inView((d) => d.getElementById('p')?.getAttribute('title')), CANARIES[1], 'the attribute canary is in the view');

    const e2e = viewer.page.locator('#e2e');
    await viewer.page.waitForFunction(() => /verification code/.test(document.getElementById('e2e')!.textContent!), null, { timeout: 10_000 });
    t.equal(await e2e.getAttribute('data-e2e'), 'on', 'the viewer says the session is end-to-end encrypted');
    t.equal(/verification code (\d{3} \d{3})/.exec((await e2e.textContent())!)?.[1], promptCode, 'with the code the visitor was shown');
    t.match(await visitor.getByRole('region', { name: 'Screen sharing' }).textContent(), /end-to-end encrypted/, 'the visitor\'s sharing bar says so too');

    // What relay B sent the viewer: frames from A, sealed, with no canary in any form.
    const messages = tapB.messages();
    const down = messages.filter((m) => m.opcode === 2 && m.dir === 'down');
    t.ok(down.length >= 1, `relay B forwarded ${down.length} binary frame(s) to the viewer`);
    t.same(down.filter((m) => (m.payload[0] & ENCRYPTED_KIND_BIT) === 0).map((m) => m.payload[0]), [], 'every frame B forwarded is sealed (byte 0 has the 0x80 bit)');
    t.same(canariesIn(tapB.allBytes(), messages), [], 'no canary in anything that crossed between B and the viewer');
    t.same(viewer.errors.filter((e) => !/WebSocket|ERR_CONNECTION/.test(e)), [], 'no errors in the viewer');
    t.same(visitorErrors, [], 'no uncaught errors on the visitor page');
  });
}

async function accountE2e(dataDir: string, accountId: string): Promise<string | undefined> {
  const s = new SqliteStore(dataDir);
  const rec = await s.getAccountById(accountId);
  await s.close();
  return rec?.e2e;
}
