/**
 * The agent viewer (real Chromium) on relay B watching a visitor on relay A, through a real
 * nats-server: the visitor is found in B's list, the page shows live, a NATS outage shows
 * "reconnecting" over the kept picture, and the view goes live again by itself when NATS returns.
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectVisitor } from '../../helpers/clients.ts';
import { startCluster } from '../../helpers/cluster.ts';
import { openViewer } from '../../helpers/viewerPage.ts';
import { fullFrame, NodeBuilder } from '../../helpers/viewerStream.ts';

// A cluster and Chromium on a shared 2-core machine: more than tap's default 120 s.
t.setTimeout(300_000);
if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('viewer on B, visitor on A: live, reconnecting while NATS is down, live again', async (t) => {
    const c = await startCluster(['A', 'B']);
    t.teardown(() => c.stop());
    const [A, B] = c.relays;
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const { sock: visitor, welcome } = await connectVisitor(A.port, c.acme.publicKey);
    const viewer = await openViewer(browser, B.base, await c.token(c.acme, 'alice', 'Alice'), { width: 1200, height: 800 });
    await viewer.watch(welcome.visitorId);
    const req = await visitor.next('consent-request', 10_000);
    t.equal(req.agent.id, 'alice', 'the visitor on A is asked about the viewer on B');
    visitor.send({ t: 'consent', agentId: 'alice', allow: true });
    await visitor.next('snapshot-request', 10_000);
    const page = (text: string) => {
      const b = new NodeBuilder();
      return fullFrame(b.doc([], [b.el('h1', {}, [b.text(text)])]), { width: 800, height: 600, compress: true });
    };
    visitor.sendFrame(page('ACROSS-RELAYS'));
    await viewer.waitState('live', 15_000);
    await viewer.waitInView((d) => d.body?.textContent?.includes('ACROSS-RELAYS'), 10_000, 'the page from relay A');
    t.pass('the viewer on B shows the page of the visitor on A');

    await c.nats.stop();
    await viewer.waitState('reconnecting', 10_000);
    t.pass('NATS down: the viewer says it is reconnecting');
    t.ok(await viewer.inView((d) => d.body?.textContent?.includes('ACROSS-RELAYS')), 'the picture is kept meanwhile');
    await c.nats.start();
    // The visitor's next frame (here a full snapshot, and again whenever the relay asks for one
    // because frames were lost in the outage) brings the view back.
    const answered = new Set<number>();
    const deadline = Date.now() + 20_000;
    while ((await viewer.state()) !== 'live' || !(await viewer.inView((d) => d.body?.textContent?.includes('AGAIN')))) {
      if (Date.now() > deadline) throw new Error(`viewer not live again (state ${await viewer.state()})`);
      const n = visitor.texts.filter((m) => m.t === 'snapshot-request').length;
      if (!answered.has(n)) {
        answered.add(n);
        visitor.sendFrame(page('AGAIN'));
      }
      await visitor.until(() => visitor.texts.filter((m) => m.t === 'snapshot-request').length > n, 500, 'next request').catch(() => {});
    }
    t.pass('NATS back: the view is live again by itself, nothing restarted');
    t.same(viewer.errors.filter((e) => !/WebSocket|ERR_CONNECTION/.test(e)), [], 'no errors in the viewer');
    visitor.close();
  });
}
