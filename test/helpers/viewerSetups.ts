/**
 * The setups the browser tests repeat: a relay on a known port (its URL is the viewer's), Chromium,
 * and either a raw Node visitor watched by the agent viewer, or a fidelity site with the real embed.
 * Teardowns are registered on `t` in start order.
 */
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { connectVisitor, type Msg, type TestSocket } from './clients.ts';
import { startFidelitySite, type FidelitySite } from './fidelitySite.ts';
import { freePort, startTestRelay, type TestRelay } from './relay.ts';
import { openViewer, type ViewerPage } from './viewerPage.ts';

interface Teardowns {
  teardown(fn: () => unknown): void;
}

/** A relay at `base` (PUBLIC_URL too) and Chromium. */
async function relayAndChromium(t: Teardowns, relayOpts: Parameters<typeof startTestRelay>[1], chromiumArgs: string[]): Promise<{ r: TestRelay; base: string; browser: Browser }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const r = await startTestRelay({ PORT: String(port), PUBLIC_URL: base }, relayOpts);
  t.teardown(r.stop);
  const browser = await launchChromium(chromiumArgs);
  t.teardown(() => browser.close());
  return { r, base, browser };
}

export interface WatchedRawVisitor {
  r: TestRelay;
  base: string;
  browser: Browser;
  /** A Node visitor socket (acme: consent required), already consented to alice. */
  visitor: TestSocket;
  welcome: Msg;
  /** Alice's viewer (1200×800), joined; the relay has asked the visitor for a snapshot. */
  viewer: ViewerPage;
}

/** Alice's viewer watching a raw Node visitor who allowed it: frames are then sent by hand. */
export async function watchedRawVisitor(t: Teardowns): Promise<WatchedRawVisitor> {
  const { r, base, browser } = await relayAndChromium(t, {}, []);
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  const viewer = await openViewer(browser, base, r.token(r.acme, 'alice', 'Alice'), { width: 1200, height: 800 });
  await viewer.watch(welcome.visitorId);
  const req = await visitor.next('consent-request', 10_000);
  visitor.send({ t: 'consent', agentId: req.agent.id, allow: true });
  await visitor.next('snapshot-request', 10_000);
  return { r, base, browser, visitor, welcome, viewer };
}

export interface FidelityStack {
  site: FidelitySite;
  r: TestRelay;
  base: string;
  browser: Browser;
}

/**
 * A fidelity site at `host` (https when `secure`, self-signed) whose pages embed the script for
 * `account` of a relay on a known port, and Chromium mapping `host` to loopback.
 */
export async function fidelityStack(t: Teardowns, opts: { secure: boolean; host: string; account: 'acme' | 'open' }): Promise<FidelityStack> {
  const site = await startFidelitySite({ secure: opts.secure, host: opts.host });
  t.teardown(site.close);
  const chromiumArgs = [`--host-resolver-rules=MAP ${opts.host} 127.0.0.1`, ...(opts.secure ? ['--ignore-certificate-errors'] : [])];
  const { r, base, browser } = await relayAndChromium(t, { siteOrigins: [site.origin] }, chromiumArgs);
  site.relay = base;
  site.key = r[opts.account].publicKey;
  return { site, r, base, browser };
}

/** A visitor page (800×600) of the fidelity site, and its visitor id once the embed has one. */
export async function openSitePage(browser: Browser, site: FidelitySite, file: string): Promise<{ page: Page; vid: string }> {
  const page = await (await browser.newContext({ viewport: { width: 800, height: 600 } })).newPage();
  await page.goto(`${site.origin}/${file}`);
  const vid = await page.waitForFunction(() => (window as any).__vid).then((h) => h.jsonValue() as Promise<string>);
  return { page, vid };
}
