/**
 * The agent's view after a relay restart, in real Chromium: the viewer reconnects before the visitor
 * (refused not_found: "waiting for them to come back"), then the visitor comes back under a new tab
 * id, in a tab that has to ask again. The view must leave "visitor left", say it is asking, and go
 * live once the visitor allows. (Before the fix it asked for the old tab id every 1.5 s and showed
 * "visitor left" until it gave up a minute later.)
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectVisitor } from '../../helpers/clients.ts';
import { freePort, startTestRelay } from '../../helpers/relay.ts';
import { openViewer } from '../../helpers/viewerPage.ts';
import { fullFrame, NodeBuilder } from '../../helpers/viewerStream.ts';

const page = (text: string) => {
  const b = new NodeBuilder();
  return fullFrame(b.doc([], [b.el('h1', {}, [b.text(text)])]), { compress: true });
};

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('relay restart, agent back first, visitor back on a new tab id: the view goes live again', async (t) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const r = await startTestRelay({ PORT: String(port), PUBLIC_URL: base });
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
    const viewer = await openViewer(browser, base, r.token(r.acme, 'alice', 'Alice'));
    await viewer.watch(welcome.visitorId);
    const req = await visitor.next('consent-request', 10_000);
    visitor.send({ t: 'consent', agentId: req.agent.id, allow: true });
    await visitor.next('snapshot-request', 10_000);
    visitor.sendFrame(page('BEFORE-RESTART'));
    await viewer.waitState('live');

    await r.stop(); // all routing state is gone
    await viewer.waitState('reconnecting');
    const r2 = await startTestRelay({ PORT: String(port), PUBLIC_URL: base }, { restartOf: r });
    t.teardown(r2.stop);
    await viewer.waitState('visitor-left', 20_000); // reconnected and rejoined; the visitor is not back yet
    t.pass('the agent is back first and told the visitor is not there yet');

    // The visitor comes back in a tab the relay never saw (a new tab id), which asks again.
    const { sock: tab2, welcome: w2 } = await connectVisitor(r2.port, r2.acme.publicKey, { query: { vid: welcome.visitorId, vt: welcome.visitorToken } });
    t.teardown(() => tab2.close());
    t.not(w2.tabId, welcome.tabId, 'a new tab id');
    const again = await tab2.next('consent-request', 10_000);
    t.equal(again.agent.id, 'alice', 'the rejoin reached the visitor\'s new tab');
    await viewer.page.waitForFunction(() => document.body.dataset.state !== 'visitor-left', null, { timeout: 5000 });
    t.match(await viewer.page.textContent('#message-text'), /Asking Alice|Asking .* to allow/, 'the view says the visitor is being asked, not that they left');
    tab2.send({ t: 'consent', agentId: 'alice', allow: true });
    await tab2.next('snapshot-request', 5000);
    tab2.sendFrame(page('AFTER-RESTART'));
    await viewer.waitInView((d) => d.body?.textContent?.includes('AFTER-RESTART'), 10_000, 'the page after the restart');
    await viewer.waitState('live');
    t.pass('live again on the visitor\'s new tab');
  });
}
