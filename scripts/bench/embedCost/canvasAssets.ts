/**
 * Embed cost benchmark, phase 4: what canvas streaming and asset frames cost the page
 * (called by scripts/bench/embedCost.ts; results in bench/RESULTS.md, "Embed script costs").
 *
 * The page (its own loopback origin): three 480×240 2D canvases the page redraws 30 times a
 * second (an animated bar chart), one masked canvas (`data-cobrowse-hidden`, never read), the
 * Inter web font (two weights) and six 320×200 PNG photos, all same-origin.
 * - Assets: for each agent join, the snapshot's wait for its assets (`cobrowse:assets`: Resource
 *   Timing lookup, reading from the cache, budget), and the asset frames (kind 5) the agent gets.
 * - Canvas: main-thread time per second (CDP Performance.getMetrics: TaskDuration, ScriptDuration)
 *   in a window while connected but not sharing against a window while sharing with one agent, on
 *   the same page; the page's own drawing runs in both, so the difference is the sampling (2 fps,
 *   `toBlob` WebP encoding, base64) and sending. Also the canvas bytes per second on the wire.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Browser } from 'playwright-core';
import { fakePhoto } from '../../../test/helpers/fidelitySite.ts';
import { connectAgent } from '../../../test/helpers/clients.ts';
import type { TestRelay } from '../../../test/helpers/relay.ts';

const FONTS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../node_modules/@fontsource/inter/files');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r2 = (v: number) => Math.round(v * 100) / 100;
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

export interface CanvasAssetSite { origin: string; relay: string; key: string; close(): Promise<void> }

function page(relay: string, key: string): string {
  const imgs = Array.from({ length: 6 }, (_, i) => `<img src="/img/p${i}.png" width="320" height="200" alt="">`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>canvas + assets</title>
<style>
@font-face { font-family: Inter; font-weight: 400; src: url(/fonts/inter-400.woff2) format('woff2'); }
@font-face { font-family: Inter; font-weight: 700; src: url(/fonts/inter-700.woff2) format('woff2'); }
body { font: 15px Inter, sans-serif; margin: 16px; } h1 { font-weight: 700; } canvas { border: 1px solid #ccc; margin: 4px; }
img { margin: 4px; }
</style></head><body>
<h1>Live sales</h1>
<canvas id="c0" width="480" height="240"></canvas><canvas id="c1" width="480" height="240"></canvas><canvas id="c2" width="480" height="240"></canvas>
<canvas id="secret" data-cobrowse-hidden width="240" height="120"></canvas>
<div>${imgs}</div>
<script>
!function(w){var c=w.Cobrowse=w.Cobrowse||{q:[]};['identify','showCode','stop','forget','on','configure'].forEach(function(m){c[m]=c[m]||function(){c.q.push([m,[].slice.call(arguments)])}})}(window);
Cobrowse.on('ready', function (e) { window.__vid = e.visitorId; });
var t = 0;
setInterval(function () {
  t++;
  for (var k = 0; k < 3; k++) {
    var x = document.getElementById('c' + k).getContext('2d');
    x.fillStyle = '#fff'; x.fillRect(0, 0, 480, 240);
    for (var i = 0; i < 24; i++) {
      var h = 40 + 150 * (0.5 + 0.5 * Math.sin((t + i * 7 + k * 13) / 9));
      x.fillStyle = ['#0d6efd', '#198754', '#dc3545'][k]; x.fillRect(10 + i * 19, 230 - h, 14, h);
    }
    x.fillStyle = '#222'; x.font = '14px sans-serif'; x.fillText('tick ' + t, 10, 18);
  }
  var s = document.getElementById('secret').getContext('2d'); s.fillStyle = '#d63384'; s.fillRect(0, 0, 240, 120);
}, 33);
</script>
<script src="${relay}/embed.js" data-key="${key}" async></script>
</body></html>`;
}

export async function startCanvasAssetSite(): Promise<CanvasAssetSite> {
  const site: CanvasAssetSite = { origin: '', relay: '', key: '', close: async () => {} };
  const photos = Array.from({ length: 6 }, (_, i) => fakePhoto(`bench-${i}`));
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (type: string, body: string | Buffer, cache = 'max-age=3600') => res.writeHead(200, { 'content-type': type, 'cache-control': cache }).end(body);
    if (p === '/canvas.html') return send('text/html; charset=utf-8', page(site.relay, site.key), 'no-store');
    const img = /^\/img\/p(\d)\.png$/.exec(p);
    if (img) return send('image/png', photos[Number(img[1])]);
    const font = /^\/fonts\/inter-(400|700)\.woff2$/.exec(p);
    if (font) return send('font/woff2', fs.readFileSync(path.join(FONTS, `inter-latin-${font[1]}-normal.woff2`)));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  site.origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  site.close = () => new Promise((r) => server.close(() => r()));
  return site;
}

type M = Record<'TaskDuration' | 'ScriptDuration' | 'Timestamp', number>;

export async function canvasAssetPhase(browser: Browser, site: CanvasAssetSite, relay: TestRelay, seconds: number, rounds: number) {
  const joins: Array<{ waitMs: number; assetFrames: number; assetBytes: number }> = [];
  const windows: Array<{ taskB: number; taskC: number; scriptB: number; scriptC: number; canvasBytesPerSec: number; picturesPerSec: number }> = [];
  for (let r = 0; r < rounds; r++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const pg = await context.newPage();
    const agent = await connectAgent(relay.port, relay.token(relay.open, 'bob', 'Bob'));
    try {
      await pg.goto(`${site.origin}/canvas.html`);
      const vid = (await (await pg.waitForFunction('window.__vid', null, { timeout: 15_000 })).jsonValue()) as string;
      await pg.waitForFunction('document.fonts.status === "loaded" && [...document.images].every((i) => i.complete)');
      const cdp = await context.newCDPSession(pg);
      await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
      const metrics = async (): Promise<M> => {
        const { metrics: m } = (await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> };
        const get = (n: string) => m.find((x) => x.name === n)?.value ?? NaN;
        return { TaskDuration: get('TaskDuration'), ScriptDuration: get('ScriptDuration'), Timestamp: get('Timestamp') };
      };
      const windowOf = async () => {
        const a = await metrics();
        const f0 = agent.frames.length;
        await sleep(seconds * 1000);
        const b = await metrics();
        const win = b.Timestamp - a.Timestamp;
        return { task: ((b.TaskDuration - a.TaskDuration) * 1000) / win, script: ((b.ScriptDuration - a.ScriptDuration) * 1000) / win, frames: agent.frames.slice(f0), win };
      };
      await sleep(1000);
      const b = await windowOf(); // connected, not sharing (consent is off for this account: sharing starts at the join)
      agent.send({ t: 'join', visitorId: vid });
      await agent.until(() => agent.frames.some((f) => f[0] === 1 || f[0] === 3), 20_000, 'full snapshot');
      const assets = agent.frames.filter((f) => f[0] === 5);
      const waitMs = (await pg.evaluate(`(performance.getEntriesByName('cobrowse:assets').pop() || { duration: 0 }).duration`)) as number;
      joins.push({ waitMs: r2(waitMs), assetFrames: assets.length, assetBytes: assets.reduce((s, f) => s + f.length, 0) });
      await sleep(1000);
      const c = await windowOf();
      // Canvas pictures travel in incremental frames (kinds 2 and 4): nothing else changes on this page.
      const inc = c.frames.filter((f) => f[0] === 2 || f[0] === 4);
      const pictures = inc.reduce((n, f) => n + ((f[0] === 4 ? zlib.inflateRawSync(f.subarray(1)) : f.subarray(1)).toString().match(/"source":9/g)?.length ?? 0), 0);
      windows.push({
        taskB: r2(b.task), taskC: r2(c.task), scriptB: r2(b.script), scriptC: r2(c.script),
        canvasBytesPerSec: Math.round(inc.reduce((s, f) => s + f.length, 0) / c.win), picturesPerSec: r2(pictures / c.win),
      });
      process.stderr.write(`  canvas round ${r + 1}: task ${r2(b.task)} → ${r2(c.task)} ms/s, script ${r2(b.script)} → ${r2(c.script)} ms/s; assets ${assets.length} frames, wait ${r2(waitMs)} ms\n`);
    } finally {
      agent.close();
      await context.close();
    }
  }
  return {
    page: '3 animated 480×240 canvases at 30 fps, 1 masked canvas, Inter 400+700, 6 PNG photos (same origin)',
    joins,
    assetWaitMsMedian: r2(median(joins.map((j) => j.waitMs))),
    assetFramesPerJoin: median(joins.map((j) => j.assetFrames)),
    assetBytesPerJoin: median(joins.map((j) => j.assetBytes)),
    windows,
    taskDiffMsPerSec: r2(median(windows.map((w) => w.taskC - w.taskB))),
    scriptDiffMsPerSec: r2(median(windows.map((w) => w.scriptC - w.scriptB))),
    canvasBytesPerSec: Math.round(median(windows.map((w) => w.canvasBytesPerSec))),
    picturesPerSec: r2(median(windows.map((w) => w.picturesPerSec))),
  };
}
