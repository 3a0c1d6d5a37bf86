/**
 * Installing the embed: the gzip size budget, one global (`window.Cobrowse`), no retry after the
 * relay refuses the page, capped backoff while the relay is unreachable, and a quiet host page.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import t from 'tap';
import { PUBLIC_DIR } from '../../../relay/server.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { sleep } from '../../helpers/clients.ts';
import { freePort, startTestRelay } from '../../helpers/relay.ts';
import { startSite } from '../../helpers/site.ts';

/** The budget for embed.js, gzipped. rrweb's recorder is about three quarters of it. */
/**
 * 45 KiB since end-to-end encryption (key schedule, WebCrypto glue, key-token check: +3.7 KiB; the
 * key binding that refuses a swapped key on rejoin: +0.5 KiB); was 40.
 */
const GZIP_BUDGET_BYTES = 45 * 1024;
const BROWSER_NETWORK_NOISE = /^(WebSocket connection to .* failed|Failed to load resource)/;

t.test('embed.js stays within its gzip budget', async (t) => {
  const js = fs.readFileSync(path.join(PUBLIC_DIR, 'embed.js'));
  const gz = zlib.gzipSync(js, { level: 9 }).length;
  t.comment(`embed.js: ${js.length} bytes, ${gz} bytes gzipped (budget ${GZIP_BUDGET_BYTES})`);
  t.ok(gz <= GZIP_BUDGET_BYTES, `gzipped size ${gz} <= ${GZIP_BUDGET_BYTES}`);
  t.notMatch(js.toString().slice(-200), /sourceMappingURL/, 'no source map reference for customer pages to fetch');
});

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('one tag: one global, a refused page never retries, an unreachable relay is retried with backoff', async (t) => {
    const site = await startSite();
    t.teardown(site.close);
    const r = await startTestRelay({}, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const load = async (file: string, relay: string, key: string) => {
      site.relay = relay;
      site.key = key;
      const page = await browser.newPage();
      const sockets: string[] = [];
      const errors: string[] = [];
      page.on('websocket', (ws) => sockets.push(ws.url()));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
      await page.goto(`${site.origin}/${file}`);
      return { page, sockets, errors };
    };
    const relay = `http://127.0.0.1:${r.port}`;

    const without = await load('noembed.html', relay, r.acme.publicKey);
    const baseline = new Set(await without.page.evaluate(() => Object.keys(window)));
    const withEmbed = await load('bare.html', relay, r.acme.publicKey);
    await withEmbed.page.waitForFunction(() => (window as any).Cobrowse?.version);
    await sleep(300);
    const added = (await withEmbed.page.evaluate(() => Object.keys(window))).filter((k) => !baseline.has(k));
    t.same(added, ['Cobrowse'], 'the only global is window.Cobrowse');
    t.same(Object.keys(await withEmbed.page.evaluate(() => (window as any).Cobrowse)).sort(), ['configure', 'forget', 'identify', 'on', 'showCode', 'stop', 'version'], 'the public API');
    t.equal(withEmbed.sockets.length, 1, 'an accepted page opens one socket');
    t.same(withEmbed.errors, [], 'no console error');

    for (const [label, key] of [['unknown key', 'pk_unknown_key_000'], ['origin not allowed', r.other.publicKey]] as const) {
      const refusedPage = await load('bare.html', relay, key);
      await sleep(3000);
      t.equal(refusedPage.sockets.length, 1, `${label}: one attempt, no retry after the refusal`);
      t.same(refusedPage.errors.filter((e) => !BROWSER_NETWORK_NOISE.test(e)), [], `${label}: nothing from our script on the console`);
    }

    // A relay that goes away after the page loaded: retried, with capped, jittered backoff.
    const port = await freePort();
    const r2 = await startTestRelay({ PORT: String(port) }, { siteOrigins: [site.origin] });
    let r2Stopped = false;
    t.teardown(() => (r2Stopped ? undefined : r2.stop()));
    const down = await load('bare.html', `http://127.0.0.1:${port}`, r2.acme.publicKey);
    await down.page.waitForFunction(() => (window as any).Cobrowse?.version);
    await sleep(300);
    // Counted before the stop: the page may already retry while the relay is still shutting down.
    const before = down.sockets.length;
    await r2.stop();
    r2Stopped = true;
    await sleep(3500);
    const attempts = down.sockets.length - before;
    t.equal(before, 1, 'connected once while the relay was up');
    t.ok(attempts >= 2, `an unreachable relay is retried (${attempts} attempts from its stop to 3.5 s after)`);
    t.ok(attempts <= 9, 'with backoff, not in a tight loop');
    t.same(down.errors.filter((e) => !BROWSER_NETWORK_NOISE.test(e)), [], 'nothing from our script on the console');
  });
}
