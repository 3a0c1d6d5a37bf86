/**
 * Deflate bombs against the agent viewer, in real Chromium: a watched visitor sends compressed
 * frames of zeros (1 MiB → 1 GiB, 4 MiB → 4 GiB inflated). The viewer must inflate off its UI thread
 * and stop at MAX_INFLATED_FRAME_BYTES: the frame is dropped, the agent sees a notice, a fresh
 * snapshot is asked for (it reaches the visitor's socket), the page stays responsive to input
 * (main-thread stalls and input-event delay measured during the attack) and the browser's memory does
 * not balloon; a normal frame afterwards renders. Also: many bombs in a row do not turn into as many
 * resync requests, garbage that is not deflate is a gap with a notice, and a large frame under the
 * cap still decodes.
 */
import zlib from 'node:zlib';
import t from 'tap';
import type { Page } from 'playwright-core';
import { encodeFrame, FrameKind, MAX_FRAME_STRING_CHARS, MAX_INFLATED_FRAME_BYTES } from '../../../protocol/frames.ts';
import { chromiumAvailable } from '../../helpers/browser.ts';
import type { TestSocket } from '../../helpers/clients.ts';
import { bombFrame } from '../../helpers/deflateBomb.ts';
import { rssPeakSampler, treeRssBytes } from '../../helpers/procMemory.ts';
import type { ViewerPage } from '../../helpers/viewerPage.ts';
import { watchedRawVisitor } from '../../helpers/viewerSetups.ts';
import { fullFrame, NodeBuilder } from '../../helpers/viewerStream.ts';

/**
 * Generous: a frozen UI is seconds (16 s and 30 s before the fix); a responsive one is tens of
 * milliseconds (33–130 ms alone on a quiet machine), but in CI, beside the other tap job on 2 cores,
 * the 4 MiB bomb read 407–507 ms: Chromium's own receipt of a 4 MiB message waits on the scheduler
 * (docs/agent-viewer.md). One second still fails the frozen UI 16 times over.
 */
const MAX_STALL_MS = 1000;
const MAX_INPUT_DELAY_MS = 1000;
/** The worker holds at most one capped frame (plus chunks and the browser's own noise). */
const MAX_RSS_GROWTH = 600 * 1024 * 1024;
/** Frames in the burst of huge-string frames (each ~30 KB on the wire, 30 MB inflated). */
const BURST_FRAMES = 20;

interface Attack { stallMs: number; inputDelayMs: number; inputRoundTripMs: number; rssGrowthMb: number; seconds: number }

/**
 * Measures main-thread stalls (a 0 ms timer loop) and input-event delay in the viewer page. Plain
 * script text: the TypeScript loader would add helpers to a function that do not exist in the page.
 */
const MONITOR = `(() => {
  const m = (window.__mon = { maxGap: 0, maxInput: 0, ticks: 0, on: true });
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    m.maxGap = Math.max(m.maxGap, now - last);
    m.ticks++;
    last = now;
    if (m.on) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  document.addEventListener('mousemove', (e) => {
    if (m.on) m.maxInput = Math.max(m.maxInput, performance.now() - e.timeStamp);
  });
})()`;

const startMonitor = (page: Page) => page.evaluate(MONITOR);
const stopMonitor = (page: Page) => page.evaluate('(window.__mon.on = false, { maxGap: window.__mon.maxGap, maxInput: window.__mon.maxInput })') as Promise<{ maxGap: number; maxInput: number }>;

/** Moves the mouse over the visitor list until `done` settles; returns the slowest move's round trip. */
async function wiggle(page: Page, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  let worst = 0;
  for (let i = 0; !finished; i++) {
    const t0 = performance.now();
    await page.mouse.move(60 + (i % 2) * 40, 400);
    worst = Math.max(worst, performance.now() - t0);
    await Promise.race([done.catch(() => {}), new Promise((r) => setTimeout(r, 20))]);
  }
  return worst;
}

const count = (s: TestSocket, type: string) => s.texts.filter((m) => m.t === type).length;
const framesBad = (v: ViewerPage) => v.page.evaluate(() => Number(document.getElementById('stage')!.dataset.framesBad ?? 0));

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.setTimeout(300_000);
  t.test('deflate bombs: dropped at the cap, off the UI thread, resync asked, notice shown, view recovers', async (t) => {
    const { visitor, viewer } = await watchedRawVisitor(t);
    const page = viewer.page;

    let round = 0;
    const showPage = async (text: string) => {
      const b = new NodeBuilder();
      visitor.sendFrame(fullFrame(b.doc([], [b.el('h1', {}, [b.text(text)])]), { compress: true }));
      await viewer.waitInView(new Function('d', `return d.body && d.body.textContent.includes(${JSON.stringify(text)})`) as (d: Document) => boolean, 10_000, text);
    };
    await showPage('BEFORE-BOMB');
    await viewer.waitState('live');

    const attack = async (compressed: number): Promise<Attack> => {
      round++;
      const { frame, inflatedBytes } = bombFrame(compressed);
      t.ok(inflatedBytes > 10 * MAX_INFLATED_FRAME_BYTES, `the ${compressed >> 20} MiB bomb inflates to ${Math.round(inflatedBytes / 2 ** 20)} MiB`);
      const requestsBefore = count(visitor, 'snapshot-request');
      const badBefore = await framesBad(viewer);
      const rssBefore = treeRssBytes();
      const rss = rssPeakSampler();
      await startMonitor(page);
      const t0 = performance.now();
      visitor.sendFrame(frame);
      // The attack is over for the viewer when it has dropped the frame, told the agent and asked for a snapshot.
      const handled = (async () => {
        await visitor.until(() => count(visitor, 'snapshot-request') > requestsBefore, 60_000, 'a snapshot-request after the bomb');
        await page.waitForFunction((n) => Number(document.getElementById('stage')!.dataset.framesBad ?? 0) > n, badBefore, { timeout: 60_000 });
      })();
      const inputRoundTripMs = await wiggle(page, handled);
      await handled;
      const seconds = (performance.now() - t0) / 1000;
      const { maxGap, maxInput } = await stopMonitor(page);
      const result = { stallMs: Math.round(maxGap), inputDelayMs: Math.round(maxInput), inputRoundTripMs: Math.round(inputRoundTripMs), rssGrowthMb: Math.round((rss.stop() - rssBefore) / 2 ** 20), seconds: Math.round(seconds * 10) / 10 };
      t.comment(`${compressed >> 20} MiB bomb: ${JSON.stringify(result)}`);
      t.ok(result.stallMs < MAX_STALL_MS, `longest main-thread stall ${result.stallMs} ms < ${MAX_STALL_MS} ms`);
      t.ok(result.inputDelayMs < MAX_INPUT_DELAY_MS, `slowest input event ${result.inputDelayMs} ms < ${MAX_INPUT_DELAY_MS} ms`);
      t.ok(result.rssGrowthMb * 2 ** 20 < MAX_RSS_GROWTH, `browser memory grew ${result.rssGrowthMb} MiB (< ${MAX_RSS_GROWTH >> 20} MiB)`);
      const notice = (await page.evaluate(`(() => { const n = document.getElementById('notice'); return n && !n.hidden ? { code: n.dataset.code, text: n.textContent } : null; })()`)) as { code?: string; text?: string } | null;
      t.equal(notice?.code, 'too_big', 'the agent is told an update was too large');
      t.match(notice?.text ?? '', /too large/, 'in words');
      t.notMatch(await viewer.state(), /signed-out|ended|refused/, 'still in the session');
      await showPage(`AFTER-BOMB-${round}`);
      await viewer.waitState('live');
      t.pass('a normal frame after the bomb renders');
      return result;
    };

    await attack(1 << 20);
    await attack(4 << 20);

    // Many bombs in a row: each is dropped, but they do not become one resync request each.
    const requestsBefore = count(visitor, 'snapshot-request');
    const badBefore = await framesBad(viewer);
    const { frame } = bombFrame(1 << 20);
    for (let i = 0; i < 6; i++) visitor.sendFrame(frame);
    await page.waitForFunction((n) => Number(document.getElementById('stage')!.dataset.framesBad ?? 0) >= n + 6, badBefore, { timeout: 60_000 });
    const requests = count(visitor, 'snapshot-request') - requestsBefore;
    t.ok(requests >= 1 && requests <= 3, `6 bombs in a row led to ${requests} snapshot request(s), not 6`);
    await showPage('AFTER-SIX');

    // Garbage that is not deflate: a gap, with the "could not be read" notice.
    visitor.sendFrame(encodeFrame(FrameKind.FullSnapshotDeflate, new Uint8Array(4096).map((_, i) => (i * 7919) & 0xff)));
    await page.waitForFunction(() => document.getElementById('notice')?.dataset.code === 'corrupt', null, { timeout: 10_000 });
    t.pass('non-deflate garbage is dropped with a notice');
    await showPage('AFTER-GARBAGE');

    // Small in bytes, huge in values (2 million empty arrays): over MAX_FRAME_JSON_VALUES, dropped
    // in the worker before the UI thread would pay for receiving it.
    await startMonitor(page);
    visitor.sendFrame(encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(Buffer.from(`[${Array(2_000_000).fill('[]').join(',')}]`))));
    await page.waitForFunction(() => document.getElementById('notice')?.dataset.code === 'too_big', null, { timeout: 10_000 });
    const manyStall = await stopMonitor(page);
    t.comment(`2 million empty arrays: longest main-thread stall ${Math.round(manyStall.maxGap)} ms`);
    t.ok(manyStall.maxGap < MAX_STALL_MS, `too many values: dropped without stalling the UI (${Math.round(manyStall.maxGap)} ms)`);
    await showPage('AFTER-MANY');

    // A large frame under both caps (~13 MiB of JSON, ~900k values) still decodes; receiving the parsed
    // events is the one cost the UI thread pays for it, measured here.
    const big = Buffer.from(JSON.stringify([{ type: 5, data: { tag: 'big', payload: Array.from({ length: 300_000 }, (_, i) => ({ i, s: 'abcdefghijklmnopqrstuvwxyz' })) }, timestamp: Date.now() }]));
    t.ok(big.byteLength > 8 << 20 && big.byteLength < MAX_INFLATED_FRAME_BYTES, `${big.byteLength >> 20} MiB of JSON, under the byte cap`);
    const badBeforeBig = await framesBad(viewer);
    await startMonitor(page);
    visitor.sendFrame(encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(big)));
    await showPage('AFTER-BIG'); // frames stay in order: this one renders after the big one was handled
    const bigStall = await stopMonitor(page);
    t.comment(`${big.byteLength >> 20} MiB / ~900k-value frame under the caps: longest main-thread stall ${Math.round(bigStall.maxGap)} ms`);
    t.equal(await framesBad(viewer), badBeforeBig, 'a large frame under the caps is not dropped');

    // A burst of frames each small on the wire (~30 KB) but inflating to one 30 MB string in a text
    // node (one value: under the value cap, and under the byte cap). Each was decoded on arrival and
    // waited, decoded, in the UI thread until applied: the viewer's renderer crashed. Now at most two
    // decodes are in flight, the rest wait compressed, and such a string is over
    // MAX_FRAME_STRING_CHARS: the worker drops each frame, so the UI thread never receives it.
    {
      const b = new NodeBuilder();
      const h1 = b.el('h1', {}, [b.text('BURST-TARGET')]);
      visitor.sendFrame(fullFrame(b.doc([], [h1]), { compress: true }));
      await viewer.waitInView((d) => d.body?.textContent?.includes('BURST-TARGET'), 10_000, 'BURST-TARGET');
      const STRING_BYTES = 30_000_000;
      t.ok(STRING_BYTES > MAX_FRAME_STRING_CHARS && STRING_BYTES < MAX_INFLATED_FRAME_BYTES, 'one string over the string cap, the frame under the byte cap');
      const badBeforeBurst = await framesBad(viewer);
      const burst = Array.from({ length: BURST_FRAMES }, (_, i) => {
        const head = Buffer.from(`[{"type":3,"data":{"source":0,"texts":[],"attributes":[],"removes":[],"adds":[{"parentId":${h1.id as number},"nextId":null,"node":{"type":3,"id":${100_000 + i},"textContent":"`);
        const tail = Buffer.from(`"}}]},"timestamp":${Date.now()}}]`);
        return encodeFrame(FrameKind.IncrementalDeflate, zlib.deflateRawSync(Buffer.concat([head, Buffer.alloc(STRING_BYTES, 0x61), tail])));
      });
      const wire = burst.reduce((n, f) => n + f.byteLength, 0);
      t.comment(`burst: ${BURST_FRAMES} frames, ${Math.round(wire / 1024)} KiB on the wire, ${Math.round((BURST_FRAMES * STRING_BYTES) / 2 ** 20)} MiB inflated`);
      const rssBefore = treeRssBytes();
      const rss = rssPeakSampler();
      await startMonitor(page);
      const t0 = performance.now();
      for (const f of burst) visitor.sendFrame(f);
      // In order after the burst: this renders only once every burst frame has been handled. A long
      // wait, so that the old behaviour is measured rather than cut short (it took minutes, if ever).
      const after = new NodeBuilder();
      visitor.sendFrame(fullFrame(after.doc([], [after.el('h1', {}, [after.text('AFTER-BURST')])]), { compress: true }));
      const done = viewer.waitInView((d) => d.body?.textContent?.includes('AFTER-BURST'), 180_000, 'AFTER-BURST');
      const inputRoundTripMs = await wiggle(page, done);
      await done;
      const { maxGap, maxInput } = await stopMonitor(page);
      const result = { stallMs: Math.round(maxGap), inputDelayMs: Math.round(maxInput), inputRoundTripMs: Math.round(inputRoundTripMs), rssGrowthMb: Math.round((rss.stop() - rssBefore) / 2 ** 20), seconds: Math.round((performance.now() - t0) / 100) / 10 };
      t.comment(`burst of ${BURST_FRAMES} string frames: ${JSON.stringify(result)}`);
      t.ok(result.rssGrowthMb * 2 ** 20 < MAX_RSS_GROWTH, `browser memory grew ${result.rssGrowthMb} MiB during the burst (< ${MAX_RSS_GROWTH >> 20} MiB)`);
      t.ok(result.stallMs < MAX_STALL_MS, `longest main-thread stall during the burst ${result.stallMs} ms < ${MAX_STALL_MS} ms`);
      t.ok(result.inputDelayMs < MAX_INPUT_DELAY_MS, `slowest input event during the burst ${result.inputDelayMs} ms < ${MAX_INPUT_DELAY_MS} ms`);
      t.equal(await framesBad(viewer), badBeforeBurst + BURST_FRAMES, `all ${BURST_FRAMES} dropped in the worker`);
      await viewer.waitState('live');
      t.notMatch(await viewer.state(), /signed-out|ended|refused/, 'still in the session after the burst');
    }

    t.same(viewer.errors.filter((e) => !/cobrowse viewer/.test(e)), [], 'no console error or CSP violation in the viewer');
  });
}
