/**
 * `npx tsx scripts/bench/e2eCost.ts [--snapshots 12] [--rounds 3] [--json FILE]` (after `npm run build`;
 * part of `npm run bench:embed`)
 *
 * What end-to-end encryption costs the customer's page, encryption on against off in the same run:
 * 1. Bundle size of embed.js with the E2E code against the same bundle built with client/e2e/gate.ts
 *    replaced by a no-op (everything else identical): raw and gzip -9.
 * 2. Main-thread time on the visitor's page per MB of frames sent: the generated ~10,000-node page
 *    (embedCost/page.ts), an agent (a scripted socket) joins and asks for `--snapshots` full
 *    snapshots one after another; CDP `Performance.getMetrics` TaskDuration over the window, divided
 *    by the frame bytes the agent received. "on": the agent's join carries a P-256 key, so the embed
 *    encrypts (account e2e off: encrypted because every watcher takes part); "off": no key, frames in
 *    the clear. Rounds alternate off/on; medians reported. AES-GCM runs in WebCrypto, which Chromium
 *    executes off the main thread; the main thread pays for the promise plumbing and copies.
 * The relay runs in-process (test/helpers/relay.ts). Results: bench/RESULTS.md, "End-to-end encryption".
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { makeAgreementPair } from '../../protocol/e2e.ts';
import { connectAgent } from '../../test/helpers/clients.ts';
import { startTestRelay } from '../../test/helpers/relay.ts';
import { bigPage } from './embedCost/page.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
};
const SNAPSHOTS = Number(arg('snapshots', '12'));
const ROUNDS = Number(arg('rounds', '3'));
const JSON_OUT = arg('json', '');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const GATE_STUB = `export const KEY_CHANGED = 'key changed';
export class E2eGate {
  constructor() {}
  setAccountMode() {}
  get required() { return false; }
  get active() { return false; }
  async admit() { return { ok: true }; }
  joined() {}
  left() {}
  reset() {}
  async seal() { return undefined; }
  openInput() { return Promise.reject(new Error('no e2e')); }
}`;

async function bundleSize(withE2e: boolean): Promise<{ raw: number; gzip: number }> {
  const out = await build({
    entryPoints: [path.join(ROOT, 'client/embed.ts')], bundle: true, minify: true, format: 'iife', target: ['chrome100', 'firefox100', 'safari15'], legalComments: 'none', write: false, logLevel: 'silent', // as scripts/build.ts
    plugins: withE2e ? [] : [{ name: 'no-e2e', setup(b) { b.onLoad({ filter: /client[\\/]e2e[\\/]gate\.ts$/ }, () => ({ contents: GATE_STUB, loader: 'ts' })); } }],
  });
  const code = out.outputFiles[0].contents;
  return { raw: code.byteLength, gzip: zlib.gzipSync(code, { level: 9 }).byteLength };
}

async function main(): Promise<void> {
  const [off, on] = [await bundleSize(false), await bundleSize(true)];
  const site = { relay: '', key: '' };
  let html = '';
  const server = http.createServer((req, res) => {
    if (req.url === '/ready.js') {
      return void res.writeHead(200, { 'content-type': 'text/javascript' }).end("window.Cobrowse={q:[['on',['ready',function(d){window.__vid=d.visitorId}]]]};");
    }
    html ||= bigPage({ headScripts: ['/ready.js'], embedTag: `<script src="${site.relay}/embed.js" data-key="${site.key}" async></script>`, bodyScripts: [] });
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const relay = await startTestRelay({}, { siteOrigins: [origin] });
  site.relay = `http://127.0.0.1:${relay.port}`;
  site.key = relay.open.publicKey;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  const runs: Record<'off' | 'on', Array<{ taskMs: number; bytes: number; msPerMB: number; msPerSnapshot: number; frameBytes: number }>> = { off: [], on: [] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['off', 'on'] as const) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${origin}/big.html`);
        const vid = (await (await page.waitForFunction(() => (window as any).__vid, null, { timeout: 15_000 })).jsonValue()) as string;
        const cdp = await context.newCDPSession(page);
        await cdp.send('Performance.enable');
        const task = async () => ((await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> }).metrics.find((m) => m.name === 'TaskDuration')!.value * 1000;
        const agent = await connectAgent(relay.port, relay.token(relay.open, `a${round}${mode}`, 'Agent'));
        const isFull = (f: Buffer) => [1, 3].includes(f[0] & 0x7f);
        const fulls = () => agent.frames.filter(isFull).length;
        await sleep(500);
        const t0 = await task();
        agent.send({ t: 'join', visitorId: vid, ...(mode === 'on' ? { key: (await makeAgreementPair()).publicKey } : {}) });
        await agent.until(() => fulls() >= 1, 20_000, 'first snapshot');
        for (let i = 1; i < SNAPSHOTS; i++) {
          await sleep(150); // the relay spaces snapshot requests ≥ 100 ms apart per tab
          agent.send({ t: 'resync' });
          await agent.until(() => fulls() >= i + 1, 20_000, `snapshot ${i + 1}`);
        }
        await sleep(300);
        const taskMs = (await task()) - t0;
        const bytes = agent.frames.reduce((n, f) => n + f.length, 0);
        const encrypted = agent.frames.every((f) => (f[0] & 0x80) !== 0);
        if (encrypted !== (mode === 'on')) throw new Error(`mode ${mode}: frames were ${encrypted ? '' : 'not '}encrypted`);
        runs[mode].push({ taskMs, bytes, msPerMB: taskMs / (bytes / 1e6), msPerSnapshot: taskMs / SNAPSHOTS, frameBytes: agent.frames.filter(isFull)[0].length });
        agent.close();
        await context.close();
      }
    }
  } finally {
    await browser.close();
    await relay.stop();
    server.close();
  }
  const sum = (mode: 'off' | 'on') => ({
    msPerMB: Math.round(median(runs[mode].map((r) => r.msPerMB))),
    msPerSnapshot: Math.round(median(runs[mode].map((r) => r.msPerSnapshot)) * 10) / 10,
    snapshotFrameBytes: median(runs[mode].map((r) => r.frameBytes)),
  });
  const result = { date: new Date().toISOString(), snapshots: SNAPSHOTS, rounds: ROUNDS, bundle: { off, on }, off: sum('off'), on: sum('on'), runs, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version };
  console.log('\n## End-to-end encryption: embed costs (on vs off, same run)\n');
  console.log('| | E2E off | E2E on | difference |');
  console.log('|---|---|---|---|');
  console.log(`| embed.js raw (bytes) | ${off.raw} | ${on.raw} | +${on.raw - off.raw} |`);
  console.log(`| embed.js gzip -9 (bytes) | ${off.gzip} | ${on.gzip} | +${on.gzip - off.gzip} |`);
  console.log(`| main-thread ms per MB of frames (median of ${ROUNDS}) | ${result.off.msPerMB} | ${result.on.msPerMB} | ${result.on.msPerMB - result.off.msPerMB} |`);
  console.log(`| main-thread ms per full snapshot, ~10k nodes | ${result.off.msPerSnapshot} | ${result.on.msPerSnapshot} | ${Math.round((result.on.msPerSnapshot - result.off.msPerSnapshot) * 10) / 10} |`);
  console.log(`| full snapshot frame on the wire (bytes) | ${result.off.snapshotFrameBytes} | ${result.on.snapshotFrameBytes} | +${result.on.snapshotFrameBytes - result.off.snapshotFrameBytes} |`);
  const out = JSON_OUT || path.join(ROOT, 'bench/e2e-last-run.json');
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
}

main().catch((err) => {
  console.error(`e2e cost bench failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
