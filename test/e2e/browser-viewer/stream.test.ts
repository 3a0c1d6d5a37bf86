/**
 * How the viewer treats the stream: gaps (incremental frames before a full snapshot, corrupt
 * frames) are dropped until the next full snapshot, a corrupt frame asks for a resync, a new full
 * snapshot rebuilds the view in place, frames stay in arrival order although compressed ones
 * decode asynchronously, and viewport changes rescale the view. Frames come from a Node visitor.
 */
import t from 'tap';
import { chromiumAvailable } from '../../helpers/browser.ts';
import { encodeFrame, FrameKind } from '../../../protocol/frames.ts';
import { fullFrame, incrementalFrame, mutation, NodeBuilder } from '../../helpers/viewerStream.ts';
import { watchedRawVisitor } from '../../helpers/viewerSetups.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('gaps, resync, rebuild in place, ordering, scaling', async (t) => {
    const { visitor, viewer } = await watchedRawVisitor(t);
    const a = viewer.page;
    await viewer.waitState('joined');
    const dataset = () => a.evaluate(() => ({ ...document.getElementById('stage')!.dataset }));

    // An incremental frame before any full snapshot: nothing to apply it to, dropped.
    visitor.sendFrame(incrementalFrame([mutation({ texts: [{ id: 5, value: 'x' }] })]));
    await a.waitForFunction(() => document.getElementById('stage')!.dataset.framesDropped === '1', null, { timeout: 5000 });
    t.equal(await viewer.state(), 'joined', 'still waiting for the page');
    t.equal(await a.locator('#stage iframe').count(), 0, 'nothing rendered from an incremental frame alone');

    // A corrupt compressed frame: the viewer asks for a resync (the relay turns it into a snapshot-request).
    const requestsBefore = visitor.texts.filter((m) => m.t === 'snapshot-request').length;
    visitor.sendFrame(encodeFrame(FrameKind.IncrementalDeflate, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])));
    await visitor.until(() => visitor.texts.filter((m) => m.t === 'snapshot-request').length > requestsBefore, 5000, 'a snapshot-request after the corrupt frame');
    t.pass('a corrupt frame leads to a fresh snapshot being asked for');

    // First full snapshot (compressed).
    const b1 = new NodeBuilder();
    const list1 = b1.el('ul', { id: 'list' });
    const doc1 = b1.doc([], [b1.el('h1', {}, [b1.text('FIRST')]), list1]);
    visitor.sendFrame(fullFrame(doc1, { width: 800, height: 600, compress: true }));
    await viewer.waitState('live');
    await viewer.waitInView((d) => d.body?.textContent?.includes('FIRST'), 5000, 'the first snapshot');
    t.equal((await dataset()).viewport, '800x600');
    t.equal((await dataset()).scale, '1', 'a smaller page is not enlarged');
    await a.evaluate(() => ((window as any).__marker = 'same page'));

    // 60 incremental frames, alternately compressed (async inflate) and plain: applied in order.
    for (let i = 0; i < 60; i++) {
      visitor.sendFrame(incrementalFrame([mutation({ adds: [{ parentId: list1.id, nextId: null, node: b1.el('li', { 'data-n': String(i) }) }] })], i % 2 === 0));
    }
    await viewer.waitInView((d) => d.querySelectorAll('#list li').length === 60, 5000, 'all 60 items');
    const order = await viewer.inView((d) => [...d.querySelectorAll('#list li')].map((li) => Number(li.getAttribute('data-n'))));
    t.same(order, Array.from({ length: 60 }, (_, i) => i), 'frames applied in arrival order');

    // The visitor's viewport grows past the stage: the view scales down, keeping the aspect.
    visitor.sendFrame(incrementalFrame([{ type: 3, data: { source: 4, width: 1800, height: 1200 }, timestamp: Date.now() }]));
    await a.waitForFunction(() => document.getElementById('stage')!.dataset.viewport === '1800x1200', null, { timeout: 5000 });
    const fit = await a.evaluate(() => {
      const stage = document.getElementById('stage')!.getBoundingClientRect();
      const f = document.querySelector('#stage iframe')!.getBoundingClientRect();
      return { stageW: stage.width, stageH: stage.height, w: f.width, h: f.height, scale: Number(document.getElementById('stage')!.dataset.scale) };
    });
    t.ok(fit.scale < 1 && fit.w <= fit.stageW + 1 && fit.h <= fit.stageH + 1, `scaled to fit (${JSON.stringify(fit)})`);
    t.ok(Math.abs(fit.w / fit.h - 1.5) < 0.01, 'aspect ratio kept');

    // A frame that does not decode is a gap: incremental frames are dropped until the next full snapshot…
    const droppedBefore = Number((await dataset()).framesDropped);
    visitor.sendFrame(encodeFrame(FrameKind.Incremental, new TextEncoder().encode('not json')));
    visitor.sendFrame(incrementalFrame([mutation({ adds: [{ parentId: list1.id, nextId: null, node: b1.el('li', { id: 'after-gap' }) }] })]));
    await a.waitForFunction((n) => Number(document.getElementById('stage')!.dataset.framesDropped) > n, droppedBefore, { timeout: 5000 });
    t.equal(await viewer.inView((d) => d.getElementById('after-gap')), null, 'an incremental frame after a gap is not applied');

    // …and a full snapshot rebuilds the view in place: no page reload, new content, counters move on.
    const b2 = new NodeBuilder();
    const body2 = b2.el('body', {}, [b2.el('h1', {}, [b2.text('SECOND')])]);
    visitor.sendFrame(fullFrame({ type: 0, id: b2.id(), childNodes: [b2.el('html', {}, [b2.el('head'), body2])] }, { width: 1024, height: 768 }));
    await viewer.waitInView((d) => d.body?.textContent?.includes('SECOND'), 5000, 'the second snapshot');
    t.equal(await a.evaluate(() => (window as any).__marker), 'same page', 'rebuilt without reloading the viewer');
    t.equal((await dataset()).fullSnapshots, '2');
    t.equal((await dataset()).viewport, '1024x768');
    await a.waitForFunction(() => document.querySelectorAll('#stage iframe').length === 1, null, { timeout: 5000 });
    t.pass('the old view is removed');
    visitor.sendFrame(incrementalFrame([mutation({ adds: [{ parentId: body2.id, nextId: null, node: b2.el('p', { id: 'after-rebuild' }) }] })]));
    await viewer.waitInView((d) => d.getElementById('after-rebuild'), 5000, 'incremental frames apply again after the rebuild');
    t.pass('incremental frames apply again');
    t.same(viewer.errors.filter((e) => !/WebSocket/.test(e)), [], 'no errors in the viewer');
    visitor.close();
  });
}
