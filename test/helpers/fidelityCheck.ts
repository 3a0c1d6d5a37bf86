/**
 * The fidelity check shared by the three fidelity test files (one set of pages each, so every file
 * stays well inside tap's per-file timeout on a slow CI machine: the 14 views in one file took
 * 76-92 s here against a 120 s limit). The visitor's page and the agent's view of it are
 * screenshotted at the same viewport size and scale 1 and compared pixel by pixel.
 *
 * A pixel "differs" when a colour channel differs by more than 32/255 (absorbs anti-aliasing).
 * Each page has a threshold (FIDELITY_MAX_PERCENT); the known, intended differences are masking
 * (form values, select text, data-cobrowse-hidden blocks and canvases). The view is screenshotted
 * until it matches or 4 s have passed (it converges as canvas frames and assets arrive); the
 * mismatch printed is the last one. Figures: bench/RESULTS.md, "Agent viewer: latency and
 * fidelity". Set VIEWER_FIDELITY_OUT=<dir> to keep the screenshots, FIDELITY_PAGES=shop,dashboard
 * to run only some pages.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium } from './browser.ts';
import { startFidelitySite } from './fidelitySite.ts';
import { freePort, startTestRelay } from './relay.ts';
import { allowFromKeyboard, openViewer, sleep, type ViewerPage } from './viewerPage.ts';
import { comparePixels, decodePng, shareOfColour, type Diff, type Rect } from './viewerPng.ts';
import { startViewerSite } from './viewerSite.ts';

/** Per page, the largest share of differing pixels accepted (percent). */
export const FIDELITY_MAX_PERCENT: Record<string, number> = {
  demo: 1, article: 0.25, form: 0.75, cssinjs: 0.25,
  // Realistic pages (masked blocks are not counted, they are checked to be gray): ~0.2 % of margin over
  // today's figures, plus masked form values (app) and lossy WebP canvas pictures (dashboard). bench/RESULTS.md.
  shop: 0.25, dashboard: 0.5, components: 0.3, app: 0.6, modal: 0.35,
};
const REALISTIC = ['shop', 'dashboard', 'components', 'app', 'modal'];
const VIEWPORT = { width: 800, height: 600 };
const HTTPS_HOST = 'shop.example.com';
const HTTP_HOST = 'shop-http.example.com';
const CONVERGE_MS = 4000;

/**
 * Which pages a file checks:
 * - `basic`: the original four (demo page, long article, form-heavy app, CSS-in-JS via CSSOM) on a
 *   loopback origin;
 * - `https` / `http`: the five realistic pages built from real front-end packages
 *   (test/fixtures/fidelity/: Bootstrap storefront with photos, an icon font and a web font;
 *   chart.js dashboard (canvas, one masked); Shoelace web components (shadow DOM, adopted
 *   stylesheets); an emotion CSS-in-JS app with a form and a same-origin iframe; a Bootstrap modal
 *   dialog), served under a public-looking host name Chromium maps to 127.0.0.1, with no CORS
 *   headers: a customer's site as the agent's browser would meet it.
 */
export type FidelitySet = 'basic' | 'https' | 'http';

export function fidelityTest(set: FidelitySet): void {
  if (!chromiumAvailable()) {
    t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
    return;
  }
  t.test(`the view matches the visitor page pixel for pixel, within the threshold (${set} pages)`, async (t) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const pages: Array<{ name: string; label: string; url: string; after?: (p: Page) => Promise<void> }> = [];
    let site: { origin: string; relay: string; key: string; close: () => Promise<void> };
    if (set === 'basic') {
      const s = await startViewerSite();
      site = s;
      pages.push(
        { name: 'demo', label: 'demo', url: `${base}/demo/` },
        { name: 'article', label: 'article', url: `${s.origin}/article.html` },
        { name: 'form', label: 'form', url: `${s.origin}/form.html` },
        { name: 'cssinjs', label: 'cssinjs', url: `${s.origin}/cssinjs.html`, after: (p) => p.evaluate(() => (window as any).__mountLate()) },
      );
    } else {
      const secure = set === 'https';
      const s = await startFidelitySite({ secure, host: secure ? HTTPS_HOST : HTTP_HOST });
      site = s;
      for (const name of REALISTIC) pages.push({ name, label: `${name}/${set}`, url: `${s.origin}/${name}.html` });
    }
    t.teardown(site.close);
    const r = await startTestRelay({ PORT: String(port), PUBLIC_URL: base }, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    site.relay = base;
    site.key = r.acme.publicKey;
    const browser = await launchChromium([`--host-resolver-rules=MAP ${HTTPS_HOST} 127.0.0.1, MAP ${HTTP_HOST} 127.0.0.1`, '--ignore-certificate-errors']);
    t.teardown(() => browser.close());
    const viewer = await openViewer(browser, base, r.token(r.acme, 'alice', 'Alice'), { width: 1400, height: 950 });
    const out = process.env.VIEWER_FIDELITY_OUT;
    if (out) fs.mkdirSync(out, { recursive: true });

    const results: Record<string, number> = {};
    const only = process.env.FIDELITY_PAGES?.split(',');
    for (const spec of pages.filter((p) => !only || only.includes(p.name))) {
      const max = FIDELITY_MAX_PERCENT[spec.name];
      const { diff, masked } = await compare(browser, viewer, spec.url, max, spec.after, out ? path.join(out, spec.label.replace('/', '-')) : undefined);
      for (const m of masked) t.ok(m.gray >= 90, `${spec.label}: masked block ${JSON.stringify(m.rect)} is a gray box in the view (${m.gray.toFixed(1)}% gray)`);
      results[spec.label] = Math.round(diff.percent * 1000) / 1000;
      t.ok(diff.percent <= max, `${spec.label}: ${diff.percent.toFixed(3)}% of pixels differ (max ${max}%), mean |Δ| ${diff.meanAbs.toFixed(2)}/255, box ${JSON.stringify(diff.box)}`);
    }
    t.comment(`fidelity (% of pixels that differ) ${JSON.stringify(results)}`);
  });
}
/** The view's colour for masked blocks (agent-viewer/maskedBoxes.ts). */
const MASKED_GRAY: [number, number, number] = [0xd5, 0xd8, 0xdd];

async function compare(browser: Browser, viewer: ViewerPage, url: string, maxPercent: number, after: ((p: Page) => Promise<void>) | undefined, keep?: string): Promise<{ diff: Diff; masked: Array<{ rect: Rect; gray: number }> }> {
  const ctx = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  const visitor = await ctx.newPage();
  try {
    await visitor.goto(url);
    const vid = await (url.includes('/demo/')
      ? visitor.waitForFunction(() => document.getElementById('vid')?.textContent !== 'connecting…' && document.getElementById('vid')?.textContent, null, { timeout: 10_000 })
      : visitor.waitForFunction(() => (window as any).__vid, null, { timeout: 10_000 })
    ).then((h) => h.jsonValue() as Promise<string>);
    await visitor.waitForFunction(() => document.fonts.status === 'loaded' && [...document.images].every((i) => i.complete) && (window as any).__ready !== false, null, { timeout: 10_000 });
    await viewer.watch(vid, '');
    await allowFromKeyboard(visitor, 'Allow');
    await viewer.waitState('live', 15_000);
    if (after) await after(visitor);
    await visitor.mouse.move(VIEWPORT.width - 1, VIEWPORT.height - 1); // park the mouse where it hovers nothing
    await viewer.waitInView((d) => (d as Document & { fonts: FontFaceSet }).fonts.status === 'loaded', 5000, 'fonts');
    if ((await viewer.page.getAttribute('#stage', 'data-scale')) !== '1') throw new Error('the view is scaled: the stage is smaller than the visitor viewport');
    // The embed's own UI (sharing bar, notices) is not part of the page and is never recorded. Page
    // CSS can no longer hide it (that would stop sharing: docs/embed.md), so its boxes are left out
    // of the comparison instead.
    const uiRects: Rect[] = await visitor.evaluate(() => [...(document.querySelector('cobrowse-ui')?.shadowRoot?.querySelectorAll('.layer > *') ?? [])]
      .map((el) => el.getBoundingClientRect()).filter((r) => r.width > 0 && r.height > 0)
      .map((r) => ({ x: Math.floor(r.x) - 16, y: Math.floor(r.y) - 16, width: Math.ceil(r.width) + 32, height: Math.ceil(r.height) + 32 }))); // with their shadows
    const shotVisitor = await visitor.screenshot({ animations: 'disabled', caret: 'hide' });
    const want = decodePng(shotVisitor);
    // Masked blocks differ on purpose (gray box instead of content): not counted, checked to be gray instead.
    const maskedRects: Rect[] = await visitor.evaluate(() => [...document.querySelectorAll('[data-cobrowse-hidden]')].map((el) => el.getBoundingClientRect())
      .filter((r) => r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight)
      .map((r) => ({ x: Math.floor(r.x) - 1, y: Math.floor(r.y) - 1, width: Math.ceil(r.width) + 2, height: Math.ceil(r.height) + 2 })));
    const iframe = viewer.page.locator('#stage .replay-host:not([style*="hidden"]) iframe');
    // The view converges (frames in flight, canvas samples, fonts decoding): compare until it matches or time is up.
    const deadline = Date.now() + CONVERGE_MS;
    let diff: Diff;
    let shotAgent: Buffer;
    for (;;) {
      const box = (await iframe.boundingBox())!;
      const clip = { x: Math.round(box.x), y: Math.round(box.y), width: VIEWPORT.width, height: VIEWPORT.height };
      shotAgent = await viewer.page.screenshot({ clip, style: '.replayer-mouse { display: none !important; }', animations: 'disabled', caret: 'hide' });
      diff = comparePixels(want, decodePng(shotAgent), 32, [...maskedRects, ...uiRects]);
      if (diff.percent <= maxPercent || Date.now() > deadline) break;
      await sleep(100);
    }
    if (keep) {
      fs.writeFileSync(`${keep}-visitor.png`, shotVisitor);
      fs.writeFileSync(`${keep}-agent.png`, shotAgent);
    }
    const agent = decodePng(shotAgent);
    const masked = maskedRects.map((r) => ({ rect: r, gray: shareOfColour(agent, { x: r.x + 3, y: r.y + 3, width: r.width - 6, height: r.height - 6 }, MASKED_GRAY) }));
    return { diff, masked };
  } finally {
    await ctx.close();
  }
}
