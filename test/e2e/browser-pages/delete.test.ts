/** The delete-visitor-data page (/delete/) in real Chromium, against a real relay and SQLite store. */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectVisitor, sleep, visitorBarrier } from '../../helpers/clients.ts';
import { freePort, OTHER_ORIGIN, startTestRelay, type TestRelay } from '../../helpers/relay.ts';

/** A real visitor socket that identifies, reports a page, and closes; returns its visitor id. */
async function seedVisitor(r: TestRelay, publicKey: string, identify: { userId: string; name: string; email: string }, origin?: string): Promise<string> {
  const { sock, welcome } = await connectVisitor(r.port, publicKey, origin ? { origin } : {});
  sock.send({ t: 'identify', ...identify });
  sock.send({ t: 'page', url: 'https://shop.example.com/cart', title: 'Cart' });
  await visitorBarrier(sock); // the relay has handled both messages before the close
  sock.close();
  await sock.closed;
  return welcome.visitorId as string;
}

/** Writes what the write-behind holds (instead of waiting for its one-second tick) until the visitor is stored with its URL and email. */
async function stored(r: TestRelay, accountId: string, visitorId: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await r.relay.ctx.metadata.writer.flush();
    const v = await r.relay.ctx.store.getVisitor(accountId, visitorId);
    if (v?.lastUrl && v.email) return;
    await sleep(100);
  }
  throw new Error(`visitor ${visitorId} was never stored`);
}

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('admin finds a visitor by email and deletes it, key kept out of URL and storage', async (t) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const r = await startTestRelay({ PORT: String(port), PUBLIC_URL: base });
    t.teardown(r.stop);
    const store = r.relay.ctx.store;

    const jane = { userId: 'u-1', name: 'Jane Roe', email: 'jane@example.com' };
    const janeId = await seedVisitor(r, r.acme.publicKey, jane);
    const johnId = await seedVisitor(r, r.acme.publicKey, { userId: 'u-2', name: 'John Doe', email: 'john@example.com' });
    // Another customer's visitor with the very same identity: out of reach of acme's key.
    const foreignId = await seedVisitor(r, r.other.publicKey, jane, OTHER_ORIGIN);
    await stored(r, r.acme.accountId, janeId);
    await stored(r, r.acme.accountId, johnId);
    await stored(r, r.other.accountId, foreignId);
    // An agent watched Jane once: the activity log names her visitor id and user id.
    r.relay.ctx.metadata.activity(r.acme.accountId, 'consent_given', { agentId: 'alice', visitorId: janeId, userId: jane.userId });
    await r.relay.ctx.metadata.writer.flush(Date.now(), true);

    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    // Chromium itself logs every HTTP error response to the console; the one 401 from the deliberate
    // wrong key is expected and counted apart. Any other console error fails the test.
    const expected401: string[] = [];
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (m.text().includes('status of 401') && m.location().url.startsWith(`${base}/api/v1/visitors`)) expected401.push(m.location().url);
      else errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d) => {
      errors.push(`unexpected native dialog: ${d.type()}`);
      void d.dismiss();
    });
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));

    const res = await page.goto(`${base}/delete/`);
    t.equal(res?.status(), 200, 'the page is served at /delete/');
    const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
    t.match(csp, /default-src 'self'/, 'a CSP meta tag');
    t.notMatch(csp, /unsafe-inline/, 'no inline script allowed');
    t.equal(await page.getAttribute('meta[name="referrer"]', 'content'), 'no-referrer');
    t.equal(await page.locator('script:not([src])').count(), 0, 'no inline script');

    const status = page.locator('[role="status"]');

    // A wrong key: a clear error, still signed out.
    const wrongKey = `sk_${r.acme.accountId}.${'x'.repeat(40)}`;
    await page.getByLabel('Account secret key').fill(wrongKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await t.resolves(status.filter({ hasText: 'Wrong secret key' }).waitFor({ timeout: 10_000 }), 'wrong key: "Wrong secret key"');
    t.ok(await page.locator('#signin').isVisible(), 'still on the sign-in form');

    // The right key, by keyboard (Enter submits the form).
    const key = r.acme.secretKey;
    await page.getByLabel('Account secret key').fill(key);
    await page.getByLabel('Account secret key').press('Enter');
    await page.getByLabel('Search for').waitFor({ state: 'visible', timeout: 10_000 });
    t.equal(await page.getByLabel('Account secret key').inputValue(), '', 'the password field is cleared after sign-in');
    t.notOk(await page.locator('#signin').isVisible(), 'the sign-in form is hidden once signed in');

    await page.getByLabel('Search by').selectOption('email');
    await page.getByLabel('Search for').fill('jane@example.com');
    await page.getByRole('button', { name: 'Find' }).click();
    const rows = page.locator('#results > li');
    await rows.first().waitFor({ timeout: 10_000 });
    t.notOk(await page.getByRole('button', { name: 'Show more' }).isVisible(), 'no "Show more" for a single page');
    t.equal(await rows.count(), 1, 'one match in this account (the other account\'s Jane is not shown)');
    const text = await rows.first().innerText();
    t.match(text, janeId, 'shows the visitor id');
    t.match(text, 'https://shop.example.com/cart', 'shows the last URL');
    t.match(text, 'Jane Roe', 'shows the name');
    t.match(text, 'u-1', 'shows the user id');
    t.match(text, '127.0.0.1', 'shows the IP');
    t.notMatch(text, foreignId, 'not the other account\'s visitor');
    await t.resolves(status.filter({ hasText: '1 visitor record found' }).waitFor({ timeout: 5000 }), 'the count found is announced');

    // Delete… asks first; Cancel deletes nothing.
    await rows.first().getByRole('button', { name: /Delete/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ state: 'visible' });
    t.match(await dialog.innerText(), janeId, 'the confirmation names the visitor');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    t.ok(await store.getVisitor(r.acme.accountId, janeId), 'cancel: nothing deleted');

    // Delete… then confirm.
    await rows.first().getByRole('button', { name: /Delete/ }).click();
    await dialog.waitFor({ state: 'visible' });
    await dialog.getByRole('button', { name: 'Delete permanently' }).click();
    await t.resolves(status.filter({ hasText: 'Deleted 1 visitor record. 1 activity log entry anonymised' }).waitFor({ timeout: 10_000 }),
      'the page shows the count deleted and the activity log entries anonymised');
    const log = JSON.stringify((await store.listActivity(r.acme.accountId, { limit: 100 })).items);
    t.notOk(log.includes(janeId) || log.includes('"u-1"'), 'her visitor id and user id are gone from the activity log');
    t.match(log, /"visitorId":"erased-/, 'her entry stays, under a pseudonym');
    t.equal(await rows.count(), 0, 'the deleted record left the list');

    t.equal(await store.getVisitor(r.acme.accountId, janeId), null, 'the visitor is gone from the store');
    t.ok(await store.getVisitor(r.acme.accountId, johnId), 'the other acme visitor is still there');
    const foreign = await store.getVisitor(r.other.accountId, foreignId);
    t.equal(foreign?.email, 'jane@example.com', 'the other account\'s visitor is untouched');

    // Searching again finds nothing.
    await page.getByRole('button', { name: 'Find' }).click();
    await t.resolves(status.filter({ hasText: 'No visitor records found' }).waitFor({ timeout: 10_000 }), 'a new search finds nothing');

    // The key never left the page's memory.
    t.notMatch(page.url(), key, 'not in the URL');
    t.notOk(requests.some((u) => u.includes(key) || u.includes(encodeURIComponent(key))), 'not in any request URL');
    const kept = await page.evaluate(() => ({
      local: JSON.stringify(Object.entries(localStorage)),
      session: JSON.stringify(Object.entries(sessionStorage)),
      cookie: document.cookie,
    }));
    t.notMatch(kept.local, key, 'not in localStorage');
    t.notMatch(kept.session, key, 'not in sessionStorage');
    t.notMatch(kept.cookie, key, 'not in a cookie');
    t.same((await page.context().cookies()).filter((c) => c.value.includes(key)), [], 'no cookie carries it');
    t.same(errors, [], 'no console errors');
    t.equal(expected401.length, 1, 'only the wrong key was refused (Chromium\'s own network log line)');
  });
}
