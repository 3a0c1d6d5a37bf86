/**
 * A hostile visitor stream, in real Chromium: nothing runs in the agent's viewer, and the agent's
 * browser contacts nothing but the account's page origins. Crafted frames go straight to the relay
 * from a Node `ws` visitor. Forbidden https and http loopback servers count every request and
 * connection (Chromium ignores certificate errors, so a request policy allowed would be made);
 * an allowed https server receives the positive controls, which prove the counting works and
 * tell the test when the browser has processed the vectors (no fixed sleeps).
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectVisitor } from '../../helpers/clients.ts';
import { hostileCorpus } from '../../helpers/hostileCorpus.ts';
import { CountingListener, selfSignedCert } from '../../helpers/hostileListener.ts';
import { freePort, startTestRelay } from '../../helpers/relay.ts';
import { openViewer } from '../../helpers/viewerPage.ts';
import { fullFrame, incrementalFrame, NodeBuilder, type SNode } from '../../helpers/viewerStream.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('a hostile stream runs nothing and reaches only the account origins', async (t) => {
    const tls = selfSignedCert();
    const forbidden = await new CountingListener('https', tls).start();
    const forbiddenHttp = await new CountingListener('http').start();
    const allowed = await new CountingListener('https', tls).start();
    t.teardown(() => Promise.all([forbidden.stop(), forbiddenHttp.stop(), allowed.stop()]));

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // The account allows its shop, the relay (as every test account does) and the "allowed" server.
    const r = await startTestRelay({ PORT: String(port), PUBLIC_URL: base }, { siteOrigins: [allowed.origin] });
    t.teardown(r.stop);
    const browser = await launchChromium(['--ignore-certificate-errors']);
    t.teardown(() => browser.close());

    const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
    visitor.send({ t: 'page', url: 'https://shop.example.com/hostile', title: 'Hostile' });
    const viewer = await openViewer(browser, base, r.token(r.acme, 'alice', 'Alice'));
    const a = viewer.page;
    const titleBefore = await a.title();
    await viewer.watch(welcome.visitorId);
    const req = await visitor.next('consent-request', 10_000);
    visitor.send({ t: 'consent', agentId: req.agent.id, allow: true });
    await visitor.next('snapshot-request', 10_000);

    const js = (tag: string) => `parent.__pwned=(parent.__pwned||[]).concat('${tag}');top.document.title='pwned ${tag}';fetch('${forbiddenHttp.url(`js-${tag}`)}')`;
    const b = new NodeBuilder();
    const corpus = hostileCorpus(b, {
      bad: (n) => forbidden.url(`v/${n}`),
      badHttp: (n, host) => forbiddenHttp.url(`v/${n}`, host),
      ok: (n) => allowed.url(n),
      js,
    });
    t.ok(corpus.vectors.length >= 40, `${corpus.vectors.length} request vectors, plus script vectors`);
    const doc = b.doc(corpus.head, corpus.body, { onload: js('body-onload'), background: forbidden.url('v/body-background') });
    visitor.sendFrame(fullFrame(doc, { compress: true }));
    await viewer.waitState('live', 10_000);
    await viewer.waitInView((d) => d.body?.textContent?.includes('HOSTILE-PAGE-RENDERED'), 10_000, 'the hostile page rendered');
    await Promise.all(corpus.controls.map((c) => allowed.waitFor(c)));

    const bodyId = ((doc.childNodes as SNode[])[1].childNodes as SNode[])[1].id as number;
    const inc = corpus.incremental(Date.now(), bodyId);
    visitor.sendFrame(incrementalFrame(inc.events, true));
    await viewer.waitInView((d) => d.getElementById('inc')?.textContent === 'INCREMENTAL-APPLIED', 10_000, 'the incremental frame applied');
    await Promise.all(inc.controls.map((c) => allowed.waitFor(c)));

    // Poke at what is there: clicks, form submission, focus (all inert without script).
    await viewer.inView((d) => {
      for (const id of ['jslink', 'jslink2', 'clicky', 'submit', 'target', 'svg-a']) (d.getElementById(id) as HTMLElement | null)?.click?.();
      (d.getElementById('f') as HTMLFormElement | null)?.requestSubmit?.();
      return true;
    });
    // A last control after everything: whatever the vectors started has had the same time to arrive.
    visitor.sendFrame(incrementalFrame([{ type: 3, timestamp: Date.now(), data: { source: 0, adds: [{ parentId: bodyId, nextId: null, node: b.el('img', { src: allowed.url('ctl-last') }) }], attributes: [], texts: [], removes: [] } }]));
    await allowed.waitFor('ctl-last');
    await viewer.waitInView((d) => [...d.images].every((i) => i.complete), 10_000, 'every image settled');

    t.same(forbidden.hits, [], 'no request reached the forbidden https server');
    t.same(forbiddenHttp.hits, [], 'no request reached the forbidden http server (127.0.0.1, localhost, [::1], decimal IP)');
    t.equal(forbidden.connections + forbiddenHttp.connections, 0, 'not even a TCP connection');
    t.ok(allowed.hits.length >= corpus.controls.length + inc.controls.length + 1, `positive controls reached the allowed server: ${allowed.hits.join(' ')}`);

    const pwnedTop = await a.evaluate(() => (window as any).__pwned ?? null);
    const pwnedFrame = await viewer.inView((d) => (d.defaultView as any).__pwned ?? null);
    t.equal(pwnedTop, null, 'no script ran in the agent page');
    t.equal(pwnedFrame, null, 'no script ran in the replay iframe');
    t.equal(await a.title(), titleBefore, 'the agent page title is untouched');

    // data-u holds a URL as text for the attr() vector: text, not a URL the browser uses.
    const dom = ((await viewer.inView((d) => d.documentElement.outerHTML)) ?? '').replace(/data-u="[^"]*"/g, '');
    t.notMatch(dom, /<script/i, 'no script element in the replayed DOM');
    t.notMatch(dom, /<(svg:)?(set|animate)\b/i, 'no SVG animation element');
    t.notMatch(dom, /\son[a-z]+=/i, 'no event handler attributes');
    t.notMatch(dom, /javascript:/i, 'no javascript: URLs');
    t.notMatch(dom, /srcdoc|http-equiv/i, 'no srcdoc, no http-equiv');
    t.notMatch(dom, new RegExp(`:(${forbidden.port}|${forbiddenHttp.port})/`), 'no forbidden URL left in the DOM');
    const sheets = (await viewer.inView((d) => [...d.styleSheets].map((s) => { try { return [...s.cssRules].map((r) => r.cssText).join('\n'); } catch { return ''; } }).join('\n'))) ?? '';
    t.notMatch(sheets, new RegExp(`:${forbidden.port}/`), 'no forbidden URL left in the style sheets');
    t.equal(await a.evaluate(() => document.querySelector('#stage iframe')?.getAttribute('sandbox')), 'allow-same-origin', 'sandbox still without scripts');
    t.equal(await viewer.state(), 'live', 'the viewer is still live');

    // Each browser layer on its own, past the sanitiser. The sandbox: script put straight into the
    // replay document runs nothing. The per-account CSP: the same markup loads from the allowed
    // origin and not from the forbidden one, although the viewer page's own policy allows any https.
    await viewer.inView((d) => {
      const s = d.createElement('script');
      s.textContent = 'parent.__pwned = ["sandbox-script"]';
      d.body.append(s);
      d.body.insertAdjacentHTML('beforeend', '<img src="x:" onerror="parent.__pwned = [\'sandbox-onerror\']">');
      return true;
    });
    const past = (name: string, url: string) => `<img src="${url}/${name}-img"><div style="width:5px;height:5px;background:url(${url}/${name}-css)"></div><svg><image href="${url}/${name}-svg" width="5" height="5"/></svg><style>@import "${url}/${name}-import";</style>`;
    await viewer.inView(`(d) => { d.body.insertAdjacentHTML('beforeend', ${JSON.stringify(past('csp', forbidden.origin) + past('csp', allowed.origin))}); return true; }`);
    await Promise.all(['csp-img', 'csp-css', 'csp-svg', 'csp-import'].map((p) => allowed.waitFor(p)));
    visitor.sendFrame(incrementalFrame([{ type: 3, timestamp: Date.now(), data: { source: 0, adds: [{ parentId: bodyId, nextId: null, node: b.el('img', { src: allowed.url('ctl-csp-last') }) }], attributes: [], texts: [], removes: [] } }]));
    await allowed.waitFor('ctl-csp-last');

    t.equal(await a.evaluate(() => (window as any).__pwned ?? null), null, 'sandbox: script added past the sanitiser does not run');
    t.same(forbidden.hits, [], 'CSP: forbidden URLs added past the sanitiser are not fetched (image, CSS, SVG, @import)');
    t.equal(forbidden.connections, 0, 'and no connection was made');
    visitor.close();
  });
}
