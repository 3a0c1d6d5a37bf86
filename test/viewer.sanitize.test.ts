/**
 * The viewer's event sanitiser (agent-viewer/sanitize.ts) on its own, in Node: it is DOM-free.
 * The end-to-end proof that a hostile stream is inert is browser.viewer.hostile.test.ts.
 */
import t from 'tap';
import { EventSanitizer, isInternalHost, safeUrl, sanitizeCss } from '../agent-viewer/sanitize.ts';

const opts = { baseUrl: 'https://relay.example.com/agent/', selfOrigin: 'https://relay.example.com' };

t.test('internal hosts', async (t) => {
  for (const h of ['localhost', 'api.localhost', '127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '[::1]', '[::]', '[fd00::1]', '[fe80::1]', '[::ffff:7f00:1]', '[::ffff:10.0.0.1]', 'intranet', 'printer.local', 'db.internal', 'nas.home.arpa', '']) {
    t.ok(isInternalHost(h), `${h || '(empty)'} is internal`);
  }
  for (const h of ['example.com', 'cdn.shop.example.com', '8.8.8.8', '172.32.0.1', '192.169.0.1', '[2001:db8::1]', '100.128.0.1']) {
    t.notOk(isInternalHost(h), `${h} is public`);
  }
});

t.test('URLs', async (t) => {
  t.ok(safeUrl('https://cdn.example.com/a.png', opts));
  t.ok(safeUrl('/relative.png', opts), 'relative: resolves to the viewer origin');
  t.ok(safeUrl('https://relay.example.com/x', opts), 'own origin');
  t.ok(safeUrl('#top', opts));
  t.ok(safeUrl('mailto:a@example.com', opts));
  t.ok(safeUrl('data:image/png;base64,AAAA', opts, true), 'data: image where images go');
  t.notOk(safeUrl('data:image/png;base64,AAAA', opts, false), 'data: never for navigation');
  t.notOk(safeUrl('data:text/html,<script>1</script>', opts, true));
  for (const u of ['javascript:alert(1)', ' JaVaScRiPt:alert(1)', 'java\tscript:alert(1)', '\u0001javascript:alert(1)', 'vbscript:x', 'file:///etc/passwd', 'blob:https://x/1', 'ws://example.com', 'ftp://example.com/x', 'http://127.0.0.1:8080/', 'https://10.0.0.1/', 'http://[::1]/', 'http://2130706433/', 'http://0x7f.1/', '//localhost/x', 'http://metadata.google.internal/', 'http://169.254.169.254/latest/meta-data/']) {
    t.notOk(safeUrl(u, opts, true), `refused: ${JSON.stringify(u)}`);
  }
});

t.test('CSS', async (t) => {
  const css = sanitizeCss(`a{background:url(http://127.0.0.1/a)} b{background:url( "https://10.0.0.1/b" )} @import "http://localhost/c.css"; c{background:url(http\\3a //127.0.0.1/d)} d{background-image:image-set("http://192.168.0.1/e" 1x)} e{background:url(https://cdn.example.com/ok.png)} f{content:"hello: world"} g{width:expression(alert(1))}`, opts);
  t.notMatch(css, /127\.0\.0\.1|10\.0\.0\.1|localhost|192\.168/, 'internal URLs neutralised, escaped or not');
  t.match(css, /https:\/\/cdn\.example\.com\/ok\.png/, 'public URL kept');
  t.match(css, /content:"hello: world"/, 'content strings left alone');
  t.notMatch(css, /expression\(/, 'legacy expression() removed');
});

t.test('events: nodes, attributes, mutations, dropped kinds', async (t) => {
  const s = new EventSanitizer(opts);
  const full = {
    type: 2,
    timestamp: 1,
    data: {
      initialOffset: { top: 0, left: 0 },
      node: {
        type: 0, id: 1, childNodes: [{
          type: 2, id: 2, tagName: 'html', attributes: {}, childNodes: [
            { type: 2, id: 3, tagName: 'SCRIPT', attributes: { src: 'https://evil.example/x.js' }, childNodes: [{ type: 3, id: 4, textContent: 'alert(1)' }] },
            { type: 2, id: 5, tagName: 'img', attributes: { src: 'http://10.0.0.1/x', onerror: 'alert(1)', OnLoad: 'x', alt: 'ok' }, childNodes: [] },
            { type: 2, id: 6, tagName: 'iframe', attributes: { srcdoc: '<script>1</script>', src: 'https://example.com/' }, childNodes: [] },
            { type: 2, id: 7, tagName: 'a', attributes: { href: 'javascript:alert(1)', title: 't' }, childNodes: [] },
            { type: 2, id: 8, tagName: 'style', attributes: {}, childNodes: [{ type: 3, id: 9, textContent: 'a{background:url(http://127.0.0.1/)}' }] },
            { type: 2, id: 10, tagName: 'meta', attributes: { 'http-equiv': 'refresh', content: '0;url=http://127.0.0.1/' }, childNodes: [] },
            { type: 2, id: 11, tagName: 'link', attributes: { rel: 'prefetch', href: 'https://example.com/x' }, childNodes: [] },
            { bogus: true },
          ],
        }],
      },
    },
  };
  const out = s.event(structuredClone(full)) as any;
  const html = out.data.node.childNodes[0];
  const [script, img, iframe, a, style, meta, link] = html.childNodes;
  t.equal(html.childNodes.length, 7, 'a malformed child node is dropped');
  t.same([script.tagName, script.attributes, script.childNodes], ['noscript', {}, []], 'script becomes an empty noscript, id kept');
  t.equal(script.id, 3);
  t.same(img.attributes, { alt: 'ok' }, 'handlers and the internal src dropped');
  t.same(iframe.attributes, {}, 'iframe srcdoc and src dropped');
  t.same(a.attributes, { title: 't' }, 'javascript: href dropped');
  t.match(style.childNodes[0].textContent, /about:invalid/, 'style text sanitised');
  t.same(meta.attributes, {}, 'meta http-equiv and its content dropped');
  t.same(link.attributes, { rel: 'prefetch' }, 'non-stylesheet link loses its href');

  const m = s.event({
    type: 3, timestamp: 2, data: {
      source: 0,
      texts: [{ id: 9, value: 'b{background:url(http://localhost/)}' }],
      attributes: [{ id: 7, attributes: { href: 'javascript:1', onclick: 'x', style: { background: 'url(http://10.0.0.1/)' } } }, { id: 5, attributes: { src: 'data:image/png;base64,AA' } }],
      removes: [{ id: 11, parentId: 2 }, { nope: 1 }],
      adds: [{ parentId: 8, nextId: null, node: { type: 3, id: 12, textContent: 'c{background:url(http://127.1/)}' } }, { parentId: 2, node: { type: 2, id: 13, tagName: 'script', attributes: {}, childNodes: [] } }],
    },
  }) as any;
  t.match(m.data.texts[0].value, /about:invalid/, 'text mutation of a style sheet sanitised');
  t.same(m.data.attributes[0].attributes, { style: { background: 'url("about:invalid")' } }, 'attribute mutation: handler and javascript: dropped, style cleaned');
  t.same(m.data.attributes[1].attributes, { src: 'data:image/png;base64,AA' }, 'a data: image src on an img is fine');
  t.equal(m.data.removes.length, 1, 'malformed removal dropped');
  t.match(m.data.adds[0].node.textContent, /about:invalid/, 'text added to a style element sanitised');
  t.equal(m.data.adds[1].node.tagName, 'noscript');

  for (const e of [
    { type: 3, timestamp: 3, data: { source: 9, id: 1, commands: [] } }, // canvas
    { type: 3, timestamp: 3, data: { source: 10, family: 'x', fontSource: 'url(http://127.0.0.1/)' } }, // font
    { type: 5, timestamp: 3, data: { tag: 'x', payload: {} } }, // custom
    { type: 6, timestamp: 3, data: { plugin: 'x', payload: {} } }, // plugin
    { type: 7, timestamp: 3, data: {} }, // asset
    { type: 99, timestamp: 3, data: {} },
    { type: 3, timestamp: 3, data: { source: 16, define: { name: 'bad name' } } },
  ]) t.equal(s.event(e), null, `dropped: ${JSON.stringify(e).slice(0, 60)}`);
  const resize = s.event({ type: 3, timestamp: 4, data: { source: 4, width: 1e9, height: -5 } }) as any;
  t.same([resize.data.width, resize.data.height], [16384, 1], 'viewport sizes clamped');
});

t.test('never throws on malformed input', async (t) => {
  const s = new EventSanitizer(opts);
  const junk: unknown[] = [null, 1, 'x', [], {}, { type: 2 }, { type: 2, timestamp: 1, data: null }, { type: 2, timestamp: 1, data: { node: { type: 2, id: 1, tagName: 5 } } },
    { type: 3, timestamp: 1, data: { source: 0, adds: 'x', attributes: [null, { id: 1, attributes: null }], texts: [{ id: 'x' }] } },
    { type: 2, timestamp: 1, data: { node: { type: 0, id: 1, childNodes: [{ type: 2, id: 2, tagName: 'div', attributes: { style: 5, href: {} }, childNodes: 'nope' }] } } },
    { type: 4, timestamp: 1, data: { width: 'wide', height: 1 } }];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const atom = () => pick<unknown>([null, true, 0, -1, 1e308, 'javascript:x', 'url(http://127.0.0.1)', {}, [], 'on', 2, 3]);
  const gen = (d: number): unknown => (d > 3 ? atom() : rnd() < 0.5 ? Object.fromEntries(Array.from({ length: 4 }, () => [pick(['type', 'id', 'data', 'node', 'childNodes', 'attributes', 'source', 'adds', 'tagName', 'timestamp', 'onload', 'style']), gen(d + 1)])) : Array.from({ length: 3 }, () => gen(d + 1)));
  for (let i = 0; i < 2000; i++) junk.push({ type: pick([2, 3, 4]), timestamp: 1, data: gen(0) });
  for (const j of junk) s.event(j);
  t.pass('2000+ malformed events, no exception');
});
