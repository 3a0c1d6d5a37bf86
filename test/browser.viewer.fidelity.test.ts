/**
 * Fidelity: the visitor's page and the agent's view of it, screenshotted at the same viewport
 * size and scale 1, compared pixel by pixel. Pages: the demo page, a long article, a form-heavy
 * app and a CSS-in-JS app (rules via CSSOM insertRule, an adopted sheet, a style tag, and rules
 * added after the agent joined).
 *
 * A pixel "differs" when a colour channel differs by more than 32/255 (absorbs anti-aliasing).
 * Threshold: at most FIDELITY_MAX_PERCENT of the pixels may differ. Known, intended differences
 * are masking (form values and placeholders, select text, data-cobrowse-hidden blocks); see
 * bench/RESULTS.md, "Agent viewer: latency and fidelity", for the measured figures.
 * Set VIEWER_FIDELITY_OUT=<dir> to keep the screenshots.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium } from './helpers/browser.ts';
import { freePort, startTestRelay } from './helpers/relay.ts';
import { allowFromKeyboard, openViewer, sleep, type ViewerPage } from './helpers/viewerPage.ts';
import { comparePixels, decodePng } from './helpers/viewerPng.ts';
import { startViewerSite } from './helpers/viewerSite.ts';

/** Per page, the largest share of differing pixels accepted (percent). */
export const FIDELITY_MAX_PERCENT: Record<string, number> = { demo: 1, article: 0.25, form: 0.75, cssinjs: 0.25 };
const VIEWPORT = { width: 800, height: 600 };

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('the view matches the visitor page pixel for pixel, within the threshold', async (t) => {
    const site = await startViewerSite();
    t.teardown(site.close);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const r = await startTestRelay({ PORT: String(port), PUBLIC_URL: base }, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    site.relay = base;
    site.key = r.acme.publicKey;
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const viewer = await openViewer(browser, base, r.token(r.acme, 'alice', 'Alice'), { width: 1400, height: 950 });
    const out = process.env.VIEWER_FIDELITY_OUT;
    if (out) fs.mkdirSync(out, { recursive: true });

    const pages: Array<{ name: string; url: string; after?: (p: Page) => Promise<void> }> = [
      { name: 'demo', url: `${base}/demo/` },
      { name: 'article', url: `${site.origin}/article.html` },
      { name: 'form', url: `${site.origin}/form.html` },
      { name: 'cssinjs', url: `${site.origin}/cssinjs.html`, after: (p) => p.evaluate(() => (window as any).__mountLate()) },
    ];
    const results: Record<string, { percent: number; meanAbs: number }> = {};
    for (const spec of pages) {
      const diff = await compare(browser, viewer, spec.url, spec.after, out ? path.join(out, spec.name) : undefined);
      results[spec.name] = { percent: Math.round(diff.percent * 1000) / 1000, meanAbs: Math.round(diff.meanAbs * 100) / 100 };
      t.ok(diff.percent <= FIDELITY_MAX_PERCENT[spec.name], `${spec.name}: ${diff.percent.toFixed(3)}% of pixels differ (max ${FIDELITY_MAX_PERCENT[spec.name]}%), mean |Δ| ${diff.meanAbs.toFixed(2)}/255, box ${JSON.stringify(diff.box)}`);
    }
    t.comment(`fidelity ${JSON.stringify(results)}`);
  });
}

async function compare(browser: Browser, viewer: ViewerPage, url: string, after: ((p: Page) => Promise<void>) | undefined, keep?: string) {
  const ctx = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  const visitor = await ctx.newPage();
  try {
    await visitor.goto(url);
    const vid = await (url.includes('/demo/')
      ? visitor.waitForFunction(() => document.getElementById('vid')?.textContent !== 'connecting…' && document.getElementById('vid')?.textContent, null, { timeout: 10_000 })
      : visitor.waitForFunction(() => (window as any).__vid, null, { timeout: 10_000 })
    ).then((h) => h.jsonValue() as Promise<string>);
    await viewer.watch(vid, '');
    await allowFromKeyboard(visitor, 'Allow');
    await viewer.waitState('live', 15_000);
    if (after) await after(visitor);
    await visitor.mouse.move(VIEWPORT.width - 1, VIEWPORT.height - 1); // park the mouse where it hovers nothing
    await settle(viewer);
    if ((await viewer.page.getAttribute('#stage', 'data-scale')) !== '1') throw new Error('the view is scaled: the stage is smaller than the visitor viewport');
    const iframe = viewer.page.locator('#stage .replay-host:not([style*="hidden"]) iframe');
    const box = (await iframe.boundingBox())!;
    const clip = { x: Math.round(box.x), y: Math.round(box.y), width: VIEWPORT.width, height: VIEWPORT.height };
    const shotAgent = await viewer.page.screenshot({ clip, style: '.replayer-mouse { display: none !important; }', animations: 'disabled', caret: 'hide' });
    // The embed's own UI (bar, notices) is not part of the page and is never recorded. Page CSS can
    // no longer hide it (that would stop sharing: docs/embed.md), so the visitor stops sharing,
    // which removes it, and the page (unchanged) is shot after the agent's view.
    await visitor.evaluate(() => (window as any).Cobrowse.stop());
    await visitor.waitForFunction(() => !document.querySelector('cobrowse-ui'), null, { timeout: 5000 });
    const shotVisitor = await visitor.screenshot({ animations: 'disabled', caret: 'hide' });
    if (keep) {
      fs.writeFileSync(`${keep}-visitor.png`, shotVisitor);
      fs.writeFileSync(`${keep}-agent.png`, shotAgent);
    }
    return comparePixels(decodePng(shotVisitor), decodePng(shotAgent));
  } finally {
    await ctx.close();
  }
}

/** Waits until no frame has arrived for a moment and fonts and images are loaded. */
async function settle(viewer: ViewerPage): Promise<void> {
  await viewer.waitInView((d) => (d as Document & { fonts: FontFaceSet }).fonts.status === 'loaded', 5000, 'fonts');
  await sleep(400);
}
