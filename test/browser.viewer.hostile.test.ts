/**
 * A hostile visitor stream runs nothing in the agent's viewer and makes it fetch nothing internal.
 * Crafted frames go straight to the relay from a Node `ws` visitor; every vector tries to set a
 * global or the title in the agent's page, or to reach a local server this test watches.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { chromiumAvailable, launchChromium } from './helpers/browser.ts';
import { connectVisitor } from './helpers/clients.ts';
import { freePort, startTestRelay } from './helpers/relay.ts';
import { openViewer, sleep } from './helpers/viewerPage.ts';
import { fullFrame, incrementalFrame, mutation, NodeBuilder, type SNode } from './helpers/viewerStream.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('script, handlers, javascript: URLs, srcdoc, SVG script and internal URLs are inert', async (t) => {
    // The "internal service" a hostile page would like the agent's browser to reach.
    const hits: string[] = [];
    let connections = 0;
    const watch = http.createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' }).end('x');
    });
    watch.on('connection', () => connections++);
    await new Promise<void>((r) => watch.listen(0, '::', r)); // dual stack: 127.0.0.1 and ::1
    t.teardown(() => new Promise<void>((r) => watch.close(() => r())));
    const W = (watch.address() as AddressInfo).port;

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const r = await startTestRelay({ PORT: String(port), PUBLIC_URL: base });
    t.teardown(r.stop);
    const browser = await launchChromium();
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

    const js = (tag: string) => `parent.__pwned=(parent.__pwned||[]).concat('${tag}');top.document.title='pwned ${tag}';fetch('http://127.0.0.1:${W}/js-${tag}')`;
    const u = (p: string) => `http://127.0.0.1:${W}/${p}`;
    const b = new NodeBuilder();
    const head: SNode[] = [
      b.el('title', {}, [b.text('pwned title')]),
      b.el('meta', { 'http-equiv': 'refresh', content: `0;url=${u('refresh')}` }),
      b.el('meta', { 'http-equiv': 'refresh', content: `0;url=javascript:${js('refresh-js')}` }),
      b.el('base', { href: u('base/') }),
      b.el('link', { rel: 'stylesheet', href: u('link.css') }),
      b.el('link', { rel: 'prefetch', href: u('prefetch') }),
      b.el('link', { rel: 'preload', as: 'image', href: `https://127.0.0.1:${W}/preload` }),
      b.el('style', {}, [b.text(`body { background: url("${u('css-style')}"); } @import url(${u('css-import')}); @font-face { font-family: x; src: url(${u('css-font')}); } h1 { font-family: x; background-image: image-set("${u('css-imageset')}" 1x); } p { background: url(http\\3a //127.0.0.1:${W}/css-escaped); }`, { isStyle: true })]),
      b.el('script', {}, [b.text(js('head-script'))]),
    ];
    const bodyNodes: SNode[] = [
      b.el('h1', {}, [b.text('HOSTILE-PAGE-RENDERED')]),
      b.el('script', {}, [b.text(js('script'))]),
      b.el('SCRIPT', {}, [b.text(js('upper-script'))]),
      b.el('script', { src: u('script-src') }),
      b.el('img', { src: 'x:y', onerror: js('onerror') }),
      b.el('img', { src: u('img') }),
      b.el('img', { src: `https://127.0.0.1:${W}/img-https` }),
      b.el('img', { src: `http://localhost:${W}/img-localhost` }),
      b.el('img', { src: `http://[::1]:${W}/img-ipv6` }),
      b.el('img', { src: `http://2130706433:${W}/img-decimal` }),
      b.el('img', { srcset: `${u('srcset')} 2x`, src: 'data:image/gif;base64,R0lGODlhAQABAAAAACw=' }),
      b.el('img', { src: 'relative-img' }), // resolved against <base> if it survived
      b.el('video', { poster: u('poster'), src: u('video') }),
      b.el('div', { style: `width:10px;height:10px;background:url(${u('css-attr')})` }),
      b.el('div', { style: `background:url('https://127.0.0.1:${W}/css-attr-https')` }),
      b.el('a', { id: 'jslink', href: `javascript:${js('href')}` }, [b.text('link')]),
      b.el('a', { id: 'jslink2', href: `  JaVa\tScRiPt:${js('href-obfuscated')}` }, [b.text('link2')]),
      b.el('iframe', { srcdoc: `<script>${js('srcdoc').replaceAll('parent.', 'parent.parent.')}</script>` }),
      b.el('iframe', { src: `javascript:${js('iframe-src')}` }),
      b.el('iframe', { src: u('iframe') }),
      b.el('object', { data: u('object') }),
      b.el('embed', { src: u('embed') }),
      b.el('form', { action: `javascript:${js('form')}`, id: 'f' }, [b.el('input', { type: 'submit', id: 'submit', formaction: u('formaction') })]),
      b.el('div', { onclick: js('onclick'), id: 'clicky', onmouseover: js('onmouseover') }, [b.text('click me')]),
      b.el('details', { open: '', ontoggle: js('ontoggle') }, [b.el('summary', {}, [b.text('s')])]),
      b.el('input', { autofocus: '', onfocus: js('onfocus') }),
      b.el('svg', { onload: js('svg-onload'), width: '10', height: '10' }, [
        b.el('script', {}, [b.text(js('svg-script'))], { isSVG: true }),
        b.el('a', { 'xlink:href': `javascript:${js('svg-xlink')}`, id: 'svglink' }, [b.el('rect', { width: '5', height: '5' }, [], { isSVG: true })], { isSVG: true }),
        b.el('animate', { attributeName: 'href', to: `javascript:${js('svg-animate')}` }, [], { isSVG: true }),
        b.el('image', { href: u('svg-image') }, [], { isSVG: true }),
        b.el('use', { href: `${u('svg-use')}#x` }, [], { isSVG: true }),
      ], { isSVG: true }),
      b.el('not-a-valid-custom-element!', {}, [], { isCustom: true }),
      b.el('div', { id: 'target' }, [b.text('target')]),
    ];
    const doc = b.doc(head, bodyNodes, { onload: js('body-onload'), background: u('body-background') });
    visitor.sendFrame(fullFrame(doc, { compress: true })); // kind 3: exercises the inflate path too
    await viewer.waitState('live', 10_000);
    await viewer.waitInView((d) => d.body?.textContent?.includes('HOSTILE-PAGE-RENDERED'), 10_000, 'the hostile page rendered');

    // Incremental vectors: added nodes, attribute and text mutations, style rules, dropped sources.
    const targetId = (bodyNodes[bodyNodes.length - 1] as { id: number }).id;
    const styleEl = head[7] as { id: number; childNodes: Array<{ id: number }> };
    const bodyId = ((doc.childNodes as SNode[])[1].childNodes as SNode[])[1].id as number;
    const now = Date.now();
    const incP = b.el('p', { id: 'inc' }, []);
    visitor.sendFrame(incrementalFrame([
      mutation({
        adds: [
          { parentId: bodyId, nextId: null, node: b.el('script', {}, [b.text(js('added-script'))]) },
          { parentId: bodyId, nextId: null, node: b.el('img', { src: 'x:', onerror: js('added-onerror') }) },
          { parentId: bodyId, nextId: null, node: b.el('iframe', { srcdoc: `<img src=x onerror="${js('added-srcdoc')}">` }) },
          { parentId: bodyId, nextId: null, node: b.el('img', { src: u('added-img') }) },
          { parentId: bodyId, nextId: null, node: incP },
          { parentId: incP.id, nextId: null, node: b.text('INCREMENTAL-APPLIED') },
        ],
        attributes: [
          { id: targetId, attributes: { onclick: js('attr-onclick'), style: { background: `url(${u('attr-style-obj')})` } } },
          { id: (bodyNodes[15] as { id: number }).id, attributes: { href: `javascript:${js('attr-href')}` } },
          { id: (bodyNodes[5] as { id: number }).id, attributes: { src: `https://10.0.0.1/attr-src`, srcset: `${u('attr-srcset')} 1x` } },
        ],
        texts: [{ id: styleEl.childNodes[0].id, value: `div { background: url(${u('text-style')}) }` }],
      }, now),
      { type: 3, data: { source: 8, id: styleEl.id, adds: [{ rule: `#target { background: url(${u('rule')}) }`, index: 0 }] }, timestamp: now },
      { type: 3, data: { source: 13, id: styleEl.id, index: [0], set: { property: 'border-image', value: `url(${u('declaration')}) 30` } }, timestamp: now },
      { type: 3, data: { source: 9, id: targetId, type: 0, commands: [{ property: 'drawImage', args: [{ rr_type: 'HTMLImageElement', src: u('canvas') }, 0, 0] }] }, timestamp: now },
      { type: 3, data: { source: 10, family: 'x', fontSource: `url(${u('font-event')})`, buffer: false }, timestamp: now },
      { type: 5, data: { tag: 'x', payload: { html: `<img src=x onerror="${js('custom')}">` } }, timestamp: now },
    ], true));
    await viewer.waitInView((d) => d.getElementById('inc')?.textContent === 'INCREMENTAL-APPLIED', 10_000, 'the incremental frame applied');

    // Poke at what is there: clicks, form submission, focus (all inert without script).
    await viewer.inView((d) => {
      for (const id of ['jslink', 'jslink2', 'clicky', 'submit', 'target']) (d.getElementById(id) as HTMLElement | null)?.click();
      (d.getElementById('f') as HTMLFormElement | null)?.requestSubmit?.();
      return true;
    });
    await sleep(800); // let anything that would load or run do so

    const pwnedTop = await a.evaluate(() => (window as any).__pwned ?? null);
    const pwnedFrame = await viewer.inView((d) => (d.defaultView as any).__pwned ?? null);
    t.equal(pwnedTop, null, 'no script ran in the agent page');
    t.equal(pwnedFrame, null, 'no script ran in the replay iframe');
    t.equal(await a.title(), titleBefore, 'the agent page title is untouched');
    t.same(hits, [], 'no request reached the watched local server');
    t.equal(connections, 0, 'not even a TCP connection (https, ::1, localhost, decimal IP)');

    const dom = (await viewer.inView((d) => d.documentElement.outerHTML)) ?? '';
    t.notMatch(dom, /<script/i, 'no script element in the replayed DOM');
    t.notMatch(dom, /\son[a-z]+=/i, 'no event handler attributes');
    t.notMatch(dom, /javascript:/i, 'no javascript: URLs');
    t.notMatch(dom, /srcdoc/i, 'no srcdoc');
    t.notMatch(dom, new RegExp(`127\\.0\\.0\\.1:${W}|localhost:${W}|\\[::1\\]|2130706433|10\\.0\\.0\\.1`), 'no internal URL left in the DOM');
    const sheets = (await viewer.inView((d) => [...d.styleSheets].map((s) => { try { return [...s.cssRules].map((r) => r.cssText).join('\n'); } catch { return ''; } }).join('\n'))) ?? '';
    t.notMatch(sheets, new RegExp(`127\\.0\\.0\\.1:${W}`), 'no internal URL left in the style sheets');
    t.equal(await a.evaluate(() => document.querySelector('#stage iframe')?.getAttribute('sandbox')), 'allow-same-origin', 'sandbox still without scripts');
    t.equal(await viewer.state(), 'live', 'the viewer is still live');
    // Each layer on its own. The sandbox: markup put straight into the replay document, past the
    // sanitiser, still runs nothing. The CSP: an image to the watched server, past the sanitiser, is not fetched.
    await viewer.inView((d) => {
      const s = d.createElement('script');
      s.textContent = 'parent.__pwned = ["sandbox-script"]';
      d.body.append(s);
      d.body.insertAdjacentHTML('beforeend', '<img src="x:" onerror="parent.__pwned = [\'sandbox-onerror\']">');
      return true;
    });
    await viewer.inView(`(d) => { d.body.insertAdjacentHTML('beforeend', '<img src="http://127.0.0.1:${W}/csp-layer"><div style="background:url(http://127.0.0.1:${W}/csp-layer-css);width:5px;height:5px"></div>'); return true; }`);
    await sleep(500);

    t.equal(await a.evaluate(() => (window as any).__pwned ?? null), null, 'sandbox: script added past the sanitiser does not run');
    t.same(hits, [], 'CSP: an internal URL added past the sanitiser is not fetched');
    t.equal(connections, 0, 'and no connection was made');
    visitor.close();
  });
}
