/**
 * The embed's session rules in real Chromium: nothing sent before consent, `stop()` ends sending at
 * once, remote control only as granted (never into sensitive fields, never off the origin), the
 * lookup code, and recovery after a relay restart from a fresh snapshot.
 */
import t from 'tap';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectAgent, sleep, type TestSocket } from '../../helpers/clients.ts';
import { answerPrompt, openEmbedPage, type EmbedPage } from '../../helpers/embedPage.ts';
import { decodeFrame, frameEvents, isFullSnapshotFrame } from '../../helpers/frames.ts';
import { freePort, startTestRelay, type TestRelay } from '../../helpers/relay.ts';
import { startSite, type Site } from '../../helpers/site.ts';

const binaries = (ep: EmbedPage) => ep.sent.filter((f) => f.binary);
/** Messages Chromium itself logs for failed connections while the relay is down: not from our script. */
const BROWSER_NETWORK_NOISE = /^(WebSocket connection to .* failed|Failed to load resource)/;

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function setup(t: Test, env: Record<string, string> = {}): Promise<{ site: Site; r: TestRelay; browser: Browser }> {
  const site = await startSite();
  t.teardown(site.close);
  const r = await startTestRelay(env, { siteOrigins: [site.origin] });
  let stopped = false;
  const stop = r.stop;
  r.stop = async () => {
    if (stopped) return;
    stopped = true;
    await stop();
  };
  t.teardown(() => r.stop());
  site.relay = `http://127.0.0.1:${r.port}`;
  site.key = r.acme.publicKey;
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  return { site, r, browser };
}

/** Joins as Alice and has the visitor click Allow; resolves once the first full snapshot arrived. */
async function share(ep: EmbedPage, r: TestRelay, agentId = 'alice', name = 'Alice'): Promise<TestSocket> {
  const agent = await connectAgent(r.port, r.token(r.acme, agentId, name));
  agent.send({ t: 'join', visitorId: await ep.visitorId() });
  await answerPrompt(ep.page, `${name} wants to see this page`, 'Allow');
  await agent.next('joined', 10_000);
  await agent.until(() => agent.frames.find(isFullSnapshotFrame), 10_000, 'the full snapshot');
  return agent;
}

/** The rrweb id the page gave the element with this DOM id (found in the agent's snapshot). */
function nodeIdOf(agent: TestSocket, domId: string): number {
  const walk = (n: any): number | undefined => {
    if (n.attributes?.id === domId) return n.id;
    for (const c of n.childNodes ?? []) {
      const found = walk(c);
      if (found !== undefined) return found;
    }
  };
  for (const f of agent.frames.filter(isFullSnapshotFrame)) {
    for (const e of frameEvents(f)) if (e.type === 2) {
      const id = walk(e.data.node);
      if (id !== undefined) return id;
    }
  }
  throw new Error(`no node #${domId} in the snapshot`);
}

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('nothing is sent before consent; stop() ends sending at once', async (t) => {
    const { site, r, browser } = await setup(t);
    const ep = await openEmbedPage(browser, `${site.origin}/control.html`);
    const { page } = ep;
    const visitorId = await ep.visitorId();

    // Activity before anyone asks: typing, clicks, DOM changes.
    await page.locator('#name').pressSequentially('before consent');
    await page.click('#inc');
    await page.evaluate(() => (window as any).change('BEFORE-CONSENT'));
    await sleep(300);
    t.equal(binaries(ep).length, 0, 'no frame before consent');
    const texts = ep.sent.map((f) => JSON.parse(f.text!));
    t.same([...new Set(texts.map((m) => m.t))].filter((x) => x !== 'tab-active'), ['page'], 'only the page metadata message was sent (and tab-active, which has no fields)');
    t.ok(texts.filter((m) => m.t === 'tab-active').every((m) => Object.keys(m).length === 1), 'tab-active carries nothing');
    t.ok(texts.filter((m) => m.t === 'page').every((m) => m.title === '' && !String(m.url).includes('?')), 'without the title or query string (page content waits for consent)');

    // tab-active: once when the tab connected in the foreground, then at most one a second.
    const tabActives = () => ep.sent.filter((f) => f.text && JSON.parse(f.text).t === 'tab-active').length;
    t.equal(tabActives(), 1, 'tab-active once, on connecting in the foreground');
    await sleep(1100);
    await page.evaluate(() => {
      for (let i = 0; i < 5; i++) window.dispatchEvent(new Event('focus'));
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await sleep(300);
    t.equal(tabActives(), 2, 'a burst of focus and visibility events: one more tab-active, not six');

    // Denied with the keyboard (Escape): still nothing.
    const agent = await connectAgent(r.port, r.token(r.acme, 'alice', 'Alice'));
    t.teardown(() => agent.close());
    agent.send({ t: 'join', visitorId });
    const dialog = page.getByRole('alertdialog', { name: 'Alice wants to see this page' });
    await dialog.waitFor();
    t.equal(await page.evaluate(() => document.querySelector('cobrowse-ui')!.shadowRoot!.activeElement?.textContent), 'Allow', 'focus starts in the dialog');
    await page.keyboard.press('Escape');
    await agent.next('refused', 5000);
    await sleep(300);
    t.equal(binaries(ep).length, 0, 'a denied request sends nothing');
    t.equal(agent.frames.length, 0, 'and the agent received nothing');

    // Allowed with the keyboard (Enter on the focused Allow button).
    agent.send({ t: 'join', visitorId });
    await page.getByRole('alertdialog', { name: 'Alice wants to see this page' }).waitFor();
    await page.keyboard.press('Enter');
    await agent.next('joined', 5000);
    await agent.until(() => agent.frames.find(isFullSnapshotFrame), 10_000, 'the snapshot');
    await page.getByRole('region', { name: 'Screen sharing' }).getByText('Sharing this page with Alice').waitFor();
    t.pass('the sharing bar names the agent');

    // stop(): nothing after it, however busy the page is.
    await page.evaluate(() => (window as any).change('STILL-SHARED'));
    await agent.until(() => agent.frames.some((f) => decodeFrame(f).includes('STILL-SHARED')), 5000, 'a live change');
    const before = ep.sent.length;
    await page.evaluate(() => {
      (window as any).Cobrowse.stop();
      for (let i = 0; i < 50; i++) (window as any).change(`AFTER-STOP-${i}`);
    });
    await page.locator('#name').pressSequentially('after stop');
    await page.mouse.move(50, 50);
    await page.mouse.move(200, 200);
    await agent.next('ended', 5000);
    await sleep(500);
    // Frames keep their order on the socket: whatever stop() let through would come after `end`.
    const kinds = ep.sent.slice(before).map((f) => (f.text ? JSON.parse(f.text).t : 'binary'));
    t.equal(kinds.filter((k) => k === 'end').length, 1, 'stop() sent end');
    t.same(kinds.slice(kinds.indexOf('end') + 1), [], 'and nothing at all after it');
    t.notOk(agent.frames.some((f) => decodeFrame(f).includes('AFTER-STOP')), 'the agent got nothing recorded after stop()');
    t.equal(await page.evaluate(() => document.querySelector('cobrowse-ui')), null, 'the embed UI is gone');
    t.same(await ep.violations(), [], 'no CSP violation');
    t.same(ep.errors, [], 'no console error on the host page');
  });

  t.test('remote control: granted click works, sensitive fields and other origins refused, revocable', async (t) => {
    const { site, r, browser } = await setup(t);
    const ep = await openEmbedPage(browser, `${site.origin}/control.html`);
    const { page } = ep;
    const agent = await share(ep, r);
    t.teardown(() => agent.close());

    // The agent's pointer is drawn on the visitor's page.
    agent.send({ t: 'pointer', x: 120, y: 80 });
    await page.waitForFunction(() => !!document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-pointer="alice"]'));
    t.pass('the agent pointer shows on the page');
    agent.send({ t: 'highlight', x: 10, y: 10, w: 200, h: 40 });
    await page.waitForFunction(() => !!document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-highlight]'));
    t.pass('and so does a highlight');
    t.not(await page.evaluate(() => document.elementFromPoint(100, 40)?.tagName), 'COBROWSE-UI', 'overlays never take the page\'s clicks');

    // Before control is granted the relay refuses clicks.
    const box = async (sel: string) => {
      const b = (await page.locator(sel).boundingBox())!;
      return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
    };
    agent.send({ t: 'click', ...(await box('#inc')) });
    await agent.next('error', 5000, (m) => m.code === 'control_not_granted');
    t.equal(await page.textContent('#count'), '0', 'no click without control');

    agent.send({ t: 'control-request' });
    await answerPrompt(page, 'Alice asks to control this page', 'Allow control');
    await agent.next('control', 5000, (m) => m.allow === true);

    agent.send({ t: 'click', ...(await box('#inc')) });
    await page.waitForFunction(() => document.getElementById('count')!.textContent === '1', null, { timeout: 5000 });
    t.pass('a granted click changes the page');

    agent.send({ t: 'input', nodeId: nodeIdOf(agent, 'name'), value: 'typed by agent' });
    await page.waitForFunction(() => (document.getElementById('name') as HTMLInputElement).value === 'typed by agent', null, { timeout: 5000 });
    t.pass('granted typing fills a normal field');

    agent.send({ t: 'input', nodeId: nodeIdOf(agent, 'pw'), value: 'hunter2' });
    agent.send({ t: 'input', nodeId: nodeIdOf(agent, 'card'), value: '4111111111111111' });
    agent.send({ t: 'click', ...(await box('#away')) });
    await page.waitForFunction(() => (window as any).__cobrowse.events.filter((e: any) => e.name === 'control-refused').length >= 3, null, { timeout: 5000 });
    const refusals = (await ep.events('control-refused')).map((e) => `${e.detail.action}:${e.detail.reason}`);
    t.same(refusals, ['input:sensitive_field', 'input:sensitive_field', 'click:off_origin'], 'password, card and off-origin link refused');
    t.equal(await page.inputValue('#pw'), '', 'the password field is untouched');
    t.equal(await page.inputValue('#card'), '', 'the card field is untouched');
    t.equal(new URL(page.url()).origin, site.origin, 'the page did not leave its origin');

    // The visitor revokes from the sharing bar.
    await page.getByRole('button', { name: 'Revoke control' }).click();
    await agent.next('control', 5000, (m) => m.allow === false);
    const errorsBefore = agent.texts.filter((m) => m.t === 'error').length;
    agent.send({ t: 'click', ...(await box('#inc')) });
    await agent.until(() => agent.texts.filter((m) => m.t === 'error').length > errorsBefore, 5000, 'the refusal');
    await sleep(200);
    t.equal(await page.textContent('#count'), '1', 'after revoking, clicks no longer apply');
    t.same(ep.errors, [], 'no console error on the host page');
  });

  t.test('lookup code: showCode() and the keyboard shortcut; agents find the visitor by it', async (t) => {
    const { site, r, browser } = await setup(t);
    const ep = await openEmbedPage(browser, `${site.origin}/control.html`);
    const { page } = ep;
    const visitorId = await ep.visitorId();
    await page.evaluate(() => (window as any).Cobrowse.showCode());
    const code = await page.locator('[data-cobrowse-code]').getAttribute('data-cobrowse-code', { timeout: 5000 });
    t.match(code, /^\d{6}$/, 'a 6-digit code is shown');
    await page.getByRole('dialog', { name: 'Your support code' }).getByRole('button', { name: 'Close' }).click();
    t.equal(await page.locator('[data-cobrowse-code]').count(), 0, 'and can be closed');

    await page.keyboard.press('Control+Shift+Y');
    const second = await page.locator('[data-cobrowse-code]').getAttribute('data-cobrowse-code', { timeout: 5000 });
    t.match(second, /^\d{6}$/, 'the shortcut shows a code too');

    // A bad value from the page is reported and dropped; it never costs the visitor its socket.
    await page.evaluate(() => (window as any).Cobrowse.identify({ userId: 'u-1', email: 'not an email' }));
    await page.waitForFunction(() => (window as any).__cobrowse.events.some((e: any) => e.name === 'error' && e.detail.code === 'bad_message'));
    await page.evaluate(() => (window as any).Cobrowse.identify({ userId: 'u-1', email: 'jo@example.com' }));
    await sleep(1500);
    t.same(await ep.events('disconnected'), [], 'the socket survived the bad identify()');
    t.equal((await r.relay.ctx.store.getVisitor(r.acme.accountId, visitorId))?.email, 'jo@example.com', 'and the good one was stored');

    const token = r.token(r.acme, 'alice', 'Alice');
    let found: any;
    for (let i = 0; i < 30 && !found?.items?.length; i++) {
      await sleep(200); // metadata is written behind, within a second
      const res = await fetch(`http://127.0.0.1:${r.port}/api/v1/visitors?code=${second}`, { headers: { authorization: `Bearer ${token}` } });
      found = await res.json();
    }
    t.equal(found.items?.[0]?.visitorId, visitorId, 'an agent finds the visitor by the code');
    t.same(ep.errors, [], 'no console error on the host page');
  });

  t.test('a relay restart: the page reconnects and the agent view is restored from a fresh snapshot', async (t) => {
    const port = await freePort();
    const { site, r, browser } = await setup(t, { PORT: String(port) });
    const ep = await openEmbedPage(browser, `${site.origin}/control.html`);
    const { page } = ep;
    const visitorId = await ep.visitorId();
    const agent = await share(ep, r);

    await r.stop(); // SIGTERM-style: sockets closed with 1012
    await agent.closed;
    await page.waitForFunction(() => (window as any).__cobrowse.events.some((e: any) => e.name === 'disconnected'), null, { timeout: 5000 });
    await page.evaluate(() => (window as any).change('DURING-OUTAGE'));
    await sleep(300);

    const r2 = await startTestRelay({ PORT: String(port) }, { restartOf: r });
    t.teardown(() => r2.stop());
    const agent2 = await connectAgent(port, r2.token(r2.acme, 'alice', 'Alice'));
    t.teardown(() => agent2.close());
    // Join until the page has reconnected (it backs off with jitter, up to a few seconds here).
    const deadline = Date.now() + 20_000;
    while (!agent2.has('joined') && Date.now() < deadline) {
      const refusedBefore = agent2.texts.filter((m) => m.t === 'refused').length;
      agent2.send({ t: 'join', visitorId });
      await agent2.until(() => agent2.has('joined') || agent2.texts.filter((m) => m.t === 'refused').length > refusedBefore, 5000, 'join answer');
      if (!agent2.has('joined')) await sleep(300);
    }
    t.ok(agent2.has('joined'), 'the agent is back in the session (the same agent is not asked about again in this tab)');
    await agent2.until(() => agent2.frames.find(isFullSnapshotFrame), 10_000, 'a fresh snapshot');
    const snap = decodeFrame(agent2.frames.find(isFullSnapshotFrame)!);
    t.match(snap, 'DURING-OUTAGE', 'the fresh snapshot shows what changed while the relay was down');
    await page.evaluate(() => (window as any).change('AFTER-RESTART'));
    await agent2.until(() => agent2.frames.some((f) => !isFullSnapshotFrame(f) && decodeFrame(f).includes('AFTER-RESTART')), 5000, 'live changes again');
    t.pass('live changes flow again');
    t.same(ep.errors.filter((e) => !BROWSER_NETWORK_NOISE.test(e)), [], 'no console error from our script (the browser logs the refused connections itself)');
  });
}
