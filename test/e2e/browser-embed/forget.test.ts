/**
 * `Cobrowse.forget()` is an erasure request: it must not be lost when the relay pushes back
 * (activity budget spent: 4029) or is down. The embed keeps it until the relay confirms (4004)
 * and sends it again after every reconnect.
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectVisitor } from '../../helpers/clients.ts';
import { openEmbedPage } from '../../helpers/embedPage.ts';
import { freePort, startTestRelay } from '../../helpers/relay.ts';
import { startSite } from '../../helpers/site.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is missing at /usr/bin/chromium (apt-get install chromium): the browser tests did not run');
} else {
  t.test('forget() refused by a spent budget is retried until the relay erases the visitor', async (t) => {
    const site = await startSite();
    t.teardown(site.close);
    // 10 erasures a minute from this address, refilled one every 6 s.
    const r = await startTestRelay({ ACTIVITY_PER_MIN_PER_IP: '10' }, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    site.relay = `http://127.0.0.1:${r.port}`;
    site.key = r.acme.publicKey;
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const ep = await openEmbedPage(browser, `${site.origin}/control.html`);
    const visitorId = await ep.visitorId();
    const counters = r.relay.ctx.metrics.counters;

    // Spend the address's budget with other visitors' own erasures (same loopback address).
    for (let i = 0; i < 10; i++) {
      const v = await connectVisitor(r.port, r.acme.publicKey, { origin: site.origin });
      v.sock.send({ t: 'forget' });
      await v.sock.closed;
    }
    const refusedBefore = counters.activity_refused_total;
    await ep.page.evaluate(() => (window as any).Cobrowse.forget());
    // The relay refuses (4029) and the embed reconnects with the same id, then asks again.
    await ep.page.waitForFunction((id) => localStorage.getItem('cobrowse.vid') !== id, visitorId, { timeout: 30_000 });
    t.ok(counters.activity_refused_total > refusedBefore, 'the first request was refused by the budget');
    t.equal(await r.relay.ctx.store.getVisitor(r.acme.accountId, visitorId), null, 'the visitor record is gone');
    t.ok(await r.relay.ctx.metadata.refusesVisitor(r.acme.accountId, visitorId), 'and its id is tombstoned');
    const forgets = ep.sentText().filter((s) => s === '{"t":"forget"}').length;
    t.ok(forgets >= 2, `forget was sent again after the refusal (${forgets} times)`);
    t.ok(forgets <= 8, `and the embed backed off while refused, not reconnecting at once (${forgets} times)`);
  });

  t.test('forget() while the relay is down is sent when it comes back', async (t) => {
    const site = await startSite();
    t.teardown(site.close);
    const port = await freePort();
    const first = await startTestRelay({ PORT: String(port) }, { siteOrigins: [site.origin] });
    site.relay = `http://127.0.0.1:${first.port}`;
    site.key = first.acme.publicKey;
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const ep = await openEmbedPage(browser, `${site.origin}/control.html`);
    const visitorId = await ep.visitorId();
    await first.relay.ctx.metadata.writer.flush(Date.now(), true);
    await first.stop();
    await ep.page.evaluate(() => (window as any).Cobrowse.forget());
    t.equal(await ep.page.evaluate(() => localStorage.getItem('cobrowse.forget')), '1', 'the request is kept while the relay is away');
    const again = await startTestRelay({ PORT: String(port) }, { restartOf: first, siteOrigins: [site.origin] });
    t.teardown(again.stop);
    await ep.page.waitForFunction((id) => localStorage.getItem('cobrowse.vid') !== id, visitorId, { timeout: 60_000 });
    t.equal(await again.relay.ctx.store.getVisitor(again.acme.accountId, visitorId), null, 'erased after the relay came back');
    t.equal(await ep.page.evaluate(() => localStorage.getItem('cobrowse.forget')), null, 'and the request is no longer pending');
  });
}
