/**
 * The embed's outbound queue is bounded: when the relay stops reading, the page drops incremental
 * batches instead of buffering them, and resyncs with a fresh full snapshot of its own once the
 * socket drains. The stall is real: a loopback TCP proxy stops reading from the browser.
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectAgent } from '../../helpers/clients.ts';
import { answerPrompt, openEmbedPage } from '../../helpers/embedPage.ts';
import { decodeFrame, isFullSnapshotFrame } from '../../helpers/frames.ts';
import { startTestRelay } from '../../helpers/relay.ts';
import { startSite } from '../../helpers/site.ts';
import { startTcpProxy } from '../../helpers/tcpProxy.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('a stalled relay: the page drops and resyncs instead of buffering without bound', async (t) => {
    const site = await startSite();
    t.teardown(site.close);
    const r = await startTestRelay({}, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    const proxy = await startTcpProxy(r.port);
    t.teardown(proxy.close);
    site.relay = `http://127.0.0.1:${proxy.port}`;
    site.key = r.acme.publicKey;
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const ep = await openEmbedPage(browser, `${site.origin}/flood.html`);
    const agent = await connectAgent(r.port, r.token(r.acme, 'alice', 'Alice'));
    t.teardown(() => agent.close());
    agent.send({ t: 'join', visitorId: await ep.visitorId() });
    await answerPrompt(ep.page, 'Alice wants to see this page', 'Allow');
    await agent.until(() => agent.frames.find(isFullSnapshotFrame), 10_000, 'the first snapshot');
    const requestsBefore = r.relay.ctx.metrics.counters.snapshot_requests_total;
    const framesBefore = agent.frames.length;

    proxy.pause();
    const { changes, generated } = await ep.page.evaluate(() => (window as any).flood(120, 400_000));
    await ep.page.evaluate(() => (document.getElementById('marker')!.textContent = 'FINAL-STATE'));
    proxy.resume();

    await agent.until(() => agent.frames.slice(framesBefore).some((f) => decodeFrame(f).includes('FINAL-STATE')), 20_000, 'the final state');
    const after = agent.frames.slice(framesBefore);
    const delivered = after.reduce((n, f) => n + decodeFrame(f).length, 0);
    const seqs = new Set(after.flatMap((f) => decodeFrame(f).match(/SEQ-\d+-/g) ?? []));
    t.comment(`generated ${changes} changes, ${(generated / 1e6).toFixed(1)} MB; delivered ${(delivered / 1e6).toFixed(1)} MB (inflated) carrying ${seqs.size} of them`);
    t.ok(after.some(isFullSnapshotFrame), 'the page resynced with a full snapshot');
    t.equal(r.relay.ctx.metrics.counters.snapshot_requests_total, requestsBefore, 'on its own: the relay did not have to ask');
    t.ok(seqs.size < changes, 'incremental batches were dropped rather than queued');
    t.ok(delivered < generated / 2, 'well under half of what the page generated was ever queued for sending');
    t.match(decodeFrame(after.filter(isFullSnapshotFrame).at(-1)!), /SEQ-\d+-/, 'the resync snapshot carries the page as it was');
    t.same(ep.errors, [], 'no console error on the host page');
  });
}
