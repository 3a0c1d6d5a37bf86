/**
 * `npx tsx scripts/bench/viewerLatency.ts [--changes N] [--interval MS] [--scrolls N] [--e2e on|off|both] [--json FILE]`
 *
 * `--e2e` (default both, each in its own relay, same run): "on" is the product as shipped (the demo
 * account requires end-to-end encryption; frames are decrypted in the viewer's decoder worker);
 * "off" seeds the demo account with e2e off and strips the key from the viewer's `join`, so frames
 * travel in the clear: the difference is what encryption adds to change → visible.
 *
 * Two latencies, end to end and as a user would run it: change → visible (a DOM change on the
 * visitor's page to its appearance in the agent viewer) and scroll → settled (the visitor
 * scrolls; the time until the view shows that exact position, at an animation frame, and has
 * stopped moving: a smooth replay would count its whole animation). The set-up: the relay is started as `npm start` starts it (its own
 * process, embedded store, demo account; run `npm run build` first), the demo page (real embed)
 * in one Chromium context, the agent viewer from the printed sign-in link in another.
 *
 * Each change puts a new element with a label into a marker on the visitor page and stamps the wall clock
 * (`performance.timeOrigin + performance.now()`, shared by both pages of the one browser). In
 * the viewer a MutationObserver on the replayed document stamps the moment that element is in the
 * view's DOM ("dom"; the Replayer applies events inside an animation-frame callback, so this is
 * just before that frame paints), and the next animation frame after it ("frame", an upper bound).
 * The path: rrweb records the mutation; the embed batches incremental events for 50 ms
 * (client/capture.ts BATCH_MS), deflates when worth it, sends; the relay forwards; the viewer
 * inflates, sanitises, and the Replayer applies it on its next animation frame.
 * Scrolls: the visitor page jumps to a new position (`window.scrollTo`, as a wheel or scrollbar
 * does); rrweb samples scroll events every 50 ms (client/capture.ts), then the same path; in the
 * viewer an animation-frame loop stamps the first frame at which the replayed page is at that
 * position. The demo page is about three viewports high at 1000×700.
 * Results and method: bench/RESULTS.md, "Agent viewer: latency and fidelity".
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { AccountService } from '../../relay/accounts.ts';
import { DEMO_ACCOUNT_NAME } from '../../relay/demo.ts';
import { SqliteStore } from '../../relay/store/sqlite.ts';
import { freePort } from './freePort.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}
const CHANGES = Number(arg('changes', '300'));
const INTERVAL_MS = Number(arg('interval', '50'));
const WARMUP = 20;
const SCROLLS = Number(arg('scrolls', '60'));
const JSON_OUT = arg('json', '');
const E2E_MODES = arg('e2e', 'both') === 'both' ? (['on', 'off'] as const) : ([arg('e2e', 'both') === 'off' ? 'off' : 'on'] as const);
/** In the viewer, for the "off" runs: `join` without the viewer's key (bench only; the product always sends it). */
const STRIP_JOIN_KEY = `(() => { const send = WebSocket.prototype.send; WebSocket.prototype.send = function (d) {
  if (typeof d === 'string' && d.indexOf('"t":"join"') >= 0) { const m = JSON.parse(d); delete m.key; delete m.keyToken; d = JSON.stringify(m); }
  return send.call(this, d); }; })()`;

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10) / 10;
  return { n: s.length, p50: r(percentile(s, 50)), p95: r(percentile(s, 95)), p99: r(percentile(s, 99)), max: r(s[s.length - 1]), min: r(s[0]) };
}

async function main(): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (apt-get install chromium)`);
  if (!fs.existsSync(path.join(ROOT, 'dist/public/agent/viewer.js'))) throw new Error('run `npm run build` first');
  const results: Record<string, Awaited<ReturnType<typeof runOnce>>> = {};
  for (const mode of E2E_MODES) results[mode] = await runOnce(mode);
  if (results.on && results.off) {
    console.log('\n## Viewer change → visible, E2E on vs off (same run)\n');
    console.log('| | E2E off | E2E on |');
    console.log('|---|---|---|');
    for (const [k, label] of [['domMs', 'change → in the view\'s DOM'], ['frameMs', 'change → next frame'], ['scrollSettledMs', 'scroll → settled']] as const) {
      for (const p of ['p50', 'p95'] as const) console.log(`| ${label}, ${p} (ms) | ${results.off[k][p]} | ${results.on[k][p]} |`);
    }
  }
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(results, null, 2) + '\n');
}

async function runOnce(e2e: 'on' | 'off') {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-viewer-bench-'));
  if (e2e === 'off') {
    // The demo account, made as the relay would make it, but with e2e off.
    const store = new SqliteStore(dataDir);
    await new AccountService(store).create({ name: DEMO_ACCOUNT_NAME, origins: [base, `http://localhost:${port}`], requireConsent: true, e2e: 'off' });
    await store.close();
  }
  const relay = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'relay/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, PUBLIC_URL: base, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const agentUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not print the agent link:\n${stderr}`)), 20_000);
    relay.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /Agent viewer:\s+(\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    relay.on('exit', (code) => reject(new Error(`relay exited (${code}):\n${stderr}`)));
  });

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  try {
    const visitor = await (await browser.newContext({ viewport: { width: 1000, height: 700 } })).newPage();
    await visitor.goto(`${base}/demo/`);
    const vid = await (await visitor.waitForFunction(() => { const t = document.getElementById('vid')?.textContent; return t && t !== 'connecting…' ? t : null; }, null, { timeout: 15_000 })).jsonValue();
    await visitor.evaluate(() => {
      const el = document.createElement('p');
      el.id = 'latency-marker';
      el.textContent = 'L-start';
      document.body.append(el);
    });

    const agentContext = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    if (e2e === 'off') await agentContext.addInitScript(STRIP_JOIN_KEY);
    const agent = await agentContext.newPage();
    await agent.goto(agentUrl);
    const watch = agent.locator(`li[data-visitor-id="${vid}"] button.watch`);
    await watch.waitFor({ timeout: 15_000 });
    await watch.click();
    const allow = visitor.getByRole('button', { name: 'Allow', exact: true });
    await allow.waitFor({ timeout: 15_000 });
    await allow.press('Enter');
    await agent.waitForFunction(() => document.body.dataset.state === 'live', null, { timeout: 15_000 });

    // In the viewer: stamp when each marker text lands in the replayed DOM, and the frame after.
    // (A string, not a function: tsx would wrap inner functions in a helper the page does not have.)
    await agent.evaluate(`(() => {
      const w = window;
      w.__seen = {};
      const now = () => performance.timeOrigin + performance.now();
      let observed;
      const check = (records) => {
        for (const r of records) for (const n of r.addedNodes) {
          const text = n.textContent || '';
          if (text.startsWith('L-') && !w.__seen[text]) {
            const rec = { dom: now() };
            w.__seen[text] = rec;
            requestAnimationFrame(() => { rec.frame = now(); });
          }
        }
      };
      const observe = () => {
        const iframe = [...document.querySelectorAll('#stage iframe')].find((f) => f.closest('.replay-host').style.visibility !== 'hidden');
        const doc = iframe && iframe.contentDocument;
        if (!doc || doc === observed) return;
        observed = doc;
        new MutationObserver(check).observe(doc, { subtree: true, childList: true });
      };
      observe();
      setInterval(observe, 200); // follow a rebuilt view
    })()`);

    const sent: Array<{ label: string; at: number }> = [];
    for (let i = 0; i < WARMUP + CHANGES; i++) {
      const label = `L-${i}`;
      const at = await visitor.evaluate((l) => {
        const t = performance.timeOrigin + performance.now();
        const span = document.createElement('span'); // a new node per change: none hides another
        span.textContent = l;
        document.getElementById('latency-marker')!.replaceChildren(span);
        return t;
      }, label);
      if (i >= WARMUP) sent.push({ label, at });
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const seen = await agent.evaluate(() => (window as unknown as { __seen: Record<string, { dom: number; frame?: number }> }).__seen);
    const dom: number[] = [];
    const frame: number[] = [];
    let missing = 0;
    for (const s of sent) {
      const r = seen[s.label];
      if (!r) {
        missing++;
        continue;
      }
      dom.push(r.dom - s.at);
      if (r.frame) frame.push(r.frame - s.at);
    }
    // Scroll → settled: the view, frame by frame, until it shows the visitor's new position.
    await agent.evaluate(`(() => {
      const w = window;
      w.__scroll = { target: -1, at: 0 };
      const now = () => performance.timeOrigin + performance.now();
      const tick = () => {
        const f = [...document.querySelectorAll('#stage iframe')].find((f) => f.closest('.replay-host').style.visibility !== 'hidden');
        const y = f && f.contentWindow ? Math.round(f.contentWindow.scrollY) : -1;
        if (w.__scroll.target === y && !w.__scroll.at) w.__scroll.at = now();
        requestAnimationFrame(tick);
      };
      tick();
    })()`);
    const maxY = await visitor.evaluate(() => document.scrollingElement!.scrollHeight - innerHeight);
    if (maxY < 300) throw new Error(`the demo page does not scroll (${maxY} px)`);
    const settle: number[] = [];
    let scrollMissing = 0;
    let last = 0;
    for (let i = 0; i < SCROLLS; i++) {
      // Alternating long and short jumps, never to where the view already is.
      let target = Math.round(((i * 0.37 + 0.1) % 1) * maxY);
      if (target === last) target = (target + 97) % maxY;
      last = target;
      await agent.evaluate((y) => { (window as unknown as { __scroll: { target: number; at: number } }).__scroll = { target: y, at: 0 }; }, target);
      const at = await visitor.evaluate((y) => {
        const t = performance.timeOrigin + performance.now();
        window.scrollTo({ top: y, behavior: 'instant' as ScrollBehavior });
        return t;
      }, target);
      const seen = await agent.waitForFunction(() => (window as unknown as { __scroll: { at: number } }).__scroll.at || 0, null, { timeout: 5000, polling: 'raf' })
        .then((h) => h.jsonValue() as Promise<number>).catch(() => 0);
      if (seen) settle.push(seen - at);
      else scrollMissing++;
      await new Promise((r) => setTimeout(r, 100)); // let the view be still before the next jump
    }
    const e2eShown = await agent.evaluate(() => document.getElementById('e2e')?.dataset.e2e);
    if (e2eShown !== e2e) throw new Error(`asked for e2e ${e2e}, the viewer says ${e2eShown}`);
    const result = {
      e2e,
      date: new Date().toISOString(),
      changes: CHANGES,
      intervalMs: INTERVAL_MS,
      missing,
      domMs: summary(dom),
      frameMs: summary(frame),
      scrolls: SCROLLS,
      scrollMissing,
      scrollSettledMs: summary(settle),
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
    };
    console.log(`E2E ${e2e}: viewer latency over ${dom.length} DOM changes (every ${INTERVAL_MS} ms, ${missing} not seen):`);
    console.log(`  in the view's DOM:  p50 ${result.domMs.p50} ms   p95 ${result.domMs.p95} ms   p99 ${result.domMs.p99} ms   max ${result.domMs.max} ms`);
    console.log(`  next frame (bound): p50 ${result.frameMs.p50} ms   p95 ${result.frameMs.p95} ms   p99 ${result.frameMs.p99} ms   max ${result.frameMs.max} ms`);
    console.log(`scroll → settled over ${settle.length} scrolls (${scrollMissing} not seen within 5 s):`);
    console.log(`  view at the position: p50 ${result.scrollSettledMs.p50} ms   p95 ${result.scrollSettledMs.p95} ms   p99 ${result.scrollSettledMs.p99} ms   max ${result.scrollSettledMs.max} ms`);
    console.log(JSON.stringify(result));
    if (!(result.domMs.p50 < 100) || !(result.scrollSettledMs.p50 < 200) || scrollMissing) process.exitCode = 1;
    return result;
  } finally {
    await browser.close();
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`viewer latency bench failed: ${(err as Error).message}`);
  process.exit(1);
});
