/**
 * The viewer's event sanitiser (agent-viewer/sanitize/) on its own, in Node: it is DOM-free.
 * The end-to-end proof that a hostile stream is inert (and that the browser's CSP holds without
 * it) is test/e2e/browser-viewer/hostile.test.ts.
 */
import { tokenize } from '@csstools/css-tokenizer';
import t from 'tap';
import { replayCsp } from '../../../agent-viewer/replayCsp.ts';
import { EventSanitizer, parseOriginPatterns, parseSrcset, sanitizeCss, sanitizeSrcset, urlAllowed, type UrlPolicy } from '../../../agent-viewer/sanitize/index.ts';

const policy: UrlPolicy = { baseUrl: 'https://relay.example.com/agent/', pageOrigins: ['https://shop.example.com', 'https://*.cdn.example.com', 'http://127.0.0.1:3000'] };
const EVIL = 'evil.test';

/** Every URL the browser would fetch from this CSS, found by the tokenizer on the output. */
function urlsIn(css: string): string[] {
  const toks = tokenize({ css });
  const urls: string[] = [];
  toks.forEach((tk, i) => {
    const v = (tk[4] as { value?: string } | null)?.value;
    if (tk[0] === 'url-token') urls.push(String(v));
    if (tk[0] === 'function-token' && /^(url|src)$/i.test(String(v))) urls.push(String((toks.slice(i + 1).find((x) => x[0] === 'string-token')?.[4] as { value?: string })?.value));
  });
  return urls;
}

t.test('URL policy: the account origins, data:/blob: for resources, nothing else', async (t) => {
  for (const u of ['https://shop.example.com/a.png', 'https://img.cdn.example.com/a.png', 'https://a.b.cdn.example.com/x', 'http://127.0.0.1:3000/x', 'data:image/png;base64,AA', 'blob:https://shop.example.com/1']) {
    t.ok(urlAllowed(u, policy, 'resource'), `allowed: ${u}`);
  }
  for (const u of ['https://shop.example.com:8443/a', 'http://shop.example.com/a', 'https://cdn.example.com/a', 'https://evil.test/a', 'https://relay.example.com/x', '/relative.png', 'http://127.0.0.1/x', 'http://127.0.0.1:3001/x', 'https://127.0.0.1:3000/x', 'javascript:alert(1)', ' JaVa\tScRiPt:x', 'file:///etc/passwd', 'data:text/html,<script>1</script>', 'data:text/css,a{}', 'https://user:pw@shop.example.com/', '#frag', '']) {
    t.notOk(urlAllowed(u, policy, 'resource'), `refused: ${JSON.stringify(u)}`);
  }
  t.ok(urlAllowed('#grad', policy, 'css'), 'a fragment in CSS (SVG paint server)');
  t.ok(urlAllowed('#x', policy, 'reference'));
  t.notOk(urlAllowed('https://evil.test/s.svg#x', policy, 'reference'));
  t.notOk(urlAllowed('data:image/png;base64,AA', policy, 'stylesheet'), 'never data: for a style sheet');
  t.notOk(urlAllowed('data:image/png;base64,AA', policy, 'link'), 'never data: for navigation');
  t.same(parseOriginPatterns(['https://a.example', 'https://*.b.example:8443', 'https://x; img-src *', "'unsafe-inline'", 'https://a.example/path', '*', 5, 'javascript:x']), ['https://a.example', 'https://*.b.example:8443'], 'only well-formed origin patterns: nothing can break out of the CSP');
  t.same(parseOriginPatterns('https://a.example'), [], 'not a list: nothing');
});

t.test('the replay CSP allows only the account origins plus data: and blob:', async (t) => {
  const csp = replayCsp(['https://shop.example.com', 'https://*.cdn.example.com', 'https://x; img-src *']);
  t.match(csp, /img-src data: blob: https:\/\/shop\.example\.com https:\/\/\*\.cdn\.example\.com;/);
  t.notMatch(csp, /https:(?!\/\/)|\*;|img-src \*/, 'no scheme wildcard, no injected source');
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'none'/);
  t.match(replayCsp([]), /img-src data: blob:;/, 'no origins known: data: and blob: only');
});

t.test('CSS: every escape and spelling of url() is decoded like the browser does, then checked', async (t) => {
  const vectors = [
    `a{background:url(https://${EVIL}/1)}`,
    `a{background:URL(https://${EVIL}/2)}`,
    `a{background:\\75 rl(https://${EVIL}/3)}`,
    `a{background:\\75rl(https://${EVIL}/3b)}`,
    `a{background:u\\72 l(https://${EVIL}/4)}`,
    `a{background:\\55 RL(https://${EVIL}/5)}`,
    `a{background:\\000075rl(https://${EVIL}/6)}`,
    `a{background:\\000075 rl( 'https://${EVIL}/7' )}`,
    `a{background:url( "https://${EVIL}/8" )}`,
    `a{background:url(https\\3a //${EVIL}/9)}`,
    `a{background:url("https\\3a //${EVIL}/10")}`,
    `a{background:url(/*c*/https://${EVIL}/11)}`,
    `a{background:url(//${EVIL}/12)}`,
    `a{background-image:image-set("https://${EVIL}/13" 1x)}`,
    `a{background-image:-webkit-image-set("https://${EVIL}/14" 1x, url(https://${EVIL}/14b) 2x)}`,
    `a{background-image:\\69mage-set('https://${EVIL}/15' 1x)}`,
    `a{background-image:image-set(type("image/png") "https://${EVIL}/16" 1x)}`,
    `a{--u:"https://${EVIL}/17";background-image:image-set(var(--u) 1x)}`,
    `a{background-image:cross-fade(url(https://${EVIL}/18) 50%, url(https://${EVIL}/18b))}`,
    `a{background-image:-webkit-cross-fade(url(https://${EVIL}/19), url(data:image/png;base64,AA), 50%)}`,
    `@import "https://${EVIL}/20.css";`,
    `@import url(https://${EVIL}/21.css) screen;`,
    `@\\69mport 'https://${EVIL}/22.css';`,
    `@IMPORT url("https://${EVIL}/23.css");`,
    `@import url(data:text/css,a{background:url(https://${EVIL}/24)});`,
    `@font-face{font-family:x;src:url(https://${EVIL}/25.woff) format("woff"),local("X")}`,
    `a{cursor:url(https://${EVIL}/26.cur),auto}`,
    `a{filter:url(https://${EVIL}/27.svg#f)}`,
    `a{mask-image:url(https://${EVIL}/28)}`,
    `a{-webkit-mask:url(https://${EVIL}/29)}`,
    `a{border-image:url(https://${EVIL}/30) 30}`,
    `a{list-style:square url(https://${EVIL}/31)}`,
    `a::before{content:url(https://${EVIL}/32)}`,
    `a{shape-outside:url(https://${EVIL}/33)}`,
    `a{background:src("https://${EVIL}/34")}`,
    `a{background:url(https://${EVIL}/35`,
    `a{width:expression(alert(1))}`,
    `a{background-image:attr(data-u url)}`,
    `a{background-image:image-set(attr(data-u) 1x)}`,
    `@media screen{@supports (display:grid){a{background:url(https://${EVIL}/36)}}}`,
    `a{background:url(https://shop.example.com.${EVIL}/37)}`,
  ];
  for (const css of vectors) {
    const out = sanitizeCss(css, policy);
    // A custom property may hold a URL-looking string: it is fetched only through var() in an image function, which goes.
    const fetchable = out.replace(/--u:"[^"]*"/, '');
    t.notOk(fetchable.toLowerCase().includes(EVIL) || /expression\(|attr\(data-u url|image-set\(var/i.test(out), `neutralised: ${css}  →  ${out}`);
    for (const u of urlsIn(out)) t.ok(urlAllowed(u, policy, 'css'), `only allowed URLs left in ${out}`);
  }
  const ok = sanitizeCss(`a{background:url(https://shop.example.com/a.png)} b{background:\\75 rl(https://img.cdn.example.com/b.png)} c{fill:url(#grad)} d{background:url(data:image/gif;base64,R0lGOD)}`, policy);
  t.same(urlsIn(ok), ['https://shop.example.com/a.png', 'https://img.cdn.example.com/b.png', '#grad', 'data:image/gif;base64,R0lGOD'], 'allowed URLs kept, re-serialised canonically');
  t.match(sanitizeCss(`@import url("https://shop.example.com/a.css");`, policy), /@import url\("https:\/\/shop\.example\.com\/a\.css"\)/, 'an @import of an allowed origin is kept');
  const plain = `a>b:hover{color:rgb(1 2 3);content:"a: b (c)";font-family:"Helvetica Neue",x;width:calc(100% - var(--w, 2px))} @media (min-width:10px){p{margin:0}} ur/**/l(x)`;
  t.equal(sanitizeCss(plain, policy), plain, 'CSS without URLs comes out byte for byte');
  t.equal(sanitizeCss('a{color:red}', policy), 'a{color:red}');
});

t.test('srcset: parsed by the HTML candidate rules, commas without spaces included', async (t) => {
  t.same(parseSrcset('a.png 1x,b.png 2x'), [{ url: 'a.png', descriptor: '1x' }, { url: 'b.png', descriptor: '2x' }]);
  t.same(parseSrcset('a.png,b.png 2x'), [{ url: 'a.png,b.png', descriptor: '2x' }], 'a comma inside a URL is part of it');
  t.same(parseSrcset('a.png, b.png'), [{ url: 'a.png', descriptor: '' }, { url: 'b.png', descriptor: '' }]);
  t.same(parseSrcset('data:image/png;base64,AA 1x'), [{ url: 'data:image/png;base64,AA', descriptor: '1x' }]);
  for (const v of [`https://shop.example.com/a.png 1x,https://${EVIL}/b.png 2x`, `https://${EVIL}/a.png 100w`, `https://shop.example.com/a.png 1x ,https://${EVIL}/b 2x`, `  ,https://${EVIL}/c`, `https://shop.example.com/a.png 1x,//${EVIL}/d 2x`]) {
    const out = sanitizeSrcset(v, policy) ?? '';
    t.notOk(out.includes(EVIL), `no evil candidate: ${v} → ${out}`);
  }
  // Without a descriptor the comma belongs to the URL: one candidate, on the allowed origin (its path holds the rest).
  const joined = sanitizeSrcset(`https://shop.example.com/a.png,https://${EVIL}/b.png`, policy) ?? '';
  t.same(parseSrcset(joined).map((c) => new URL(c.url).origin), ['https://shop.example.com'], 'a URL with a comma inside: one candidate, fetched from its own (allowed) origin');
  t.equal(sanitizeSrcset('https://shop.example.com/a.png 1x,https://shop.example.com/b.png 2x', policy), 'https://shop.example.com/a.png 1x, https://shop.example.com/b.png 2x');
  t.equal(sanitizeSrcset(`https://${EVIL}/a.png`, policy), null);
});

let nextId = 1;
const el = (tagName: string, attributes: Record<string, unknown> = {}, childNodes: unknown[] = [], extra: Record<string, unknown> = {}) => ({ type: 2, id: nextId++, tagName, attributes, childNodes, ...extra });
const txt = (textContent: string, extra: Record<string, unknown> = {}) => ({ type: 3, id: nextId++, textContent, ...extra });
const full = (children: unknown[]) => ({ type: 2, timestamp: 1, data: { initialOffset: { top: 0, left: 0 }, node: { type: 0, id: nextId++, childNodes: [el('html', {}, [el('head'), el('body', {}, children)])] } } });
const bodyOf = (e: any) => e.data.node.childNodes[0].childNodes[1].childNodes;

t.test('elements: an allow-list, compared without namespace prefix or case', async (t) => {
  const s = new EventSanitizer(policy);
  const nodes = [
    el('script', { src: `https://${EVIL}/x.js` }, [txt('alert(1)')]),
    el('SCRIPT', {}, [txt('x')]),
    el('svg:script', {}, [txt('x')], { isSVG: true }),
    el('animate', { attributeName: 'href', to: `https://${EVIL}/a` }, [], { isSVG: true }),
    el('set', { attributeName: 'href', to: `https://${EVIL}/s` }, [], { isSVG: true }),
    el('animateMotion', {}, [], { isSVG: true }),
    el('svg:animateTransform', {}, [], { isSVG: true }),
    el('font-face', {}, [el('font-face-uri', { 'xlink:href': `https://${EVIL}/f` }, [], { isSVG: true })], { isSVG: true }),
    el('base', { href: `https://${EVIL}/` }),
    el('object', { data: `https://${EVIL}/o` }, [el('param', { name: 'movie', value: 'x' })]),
    el('embed', { src: `https://${EVIL}/e` }),
    el('noscript', {}, [txt('<img src=x>')]),
    el('frameset'),
    el('portal', { src: `https://${EVIL}/p` }),
  ];
  const out = s.event(full(structuredClone(nodes))) as any;
  for (const [i, n] of bodyOf(out).entries()) {
    t.same([n.tagName, n.attributes, n.childNodes, n.isSVG], ['noscript', {}, [], false], `${nodes[i].tagName} → empty placeholder`);
    t.equal(n.id, nodes[i].id, 'id kept for later mutations');
  }
  const kept = s.event(full([el('svg:style', {}, [txt(`a{fill:url(https://${EVIL}/x)}`)], { isSVG: true }), el('SVG:RECT', { width: 1 }, [], { isSVG: true }), el('math', {}, [txt('x²')]), el('my-widget', {}, [], { isCustom: true }), el('font-face', {}, [], { isCustom: true })])) as any;
  const [style, rect, math, custom, reserved] = bodyOf(kept);
  t.equal(style.tagName, 'style', 'svg:style is a style element: its text is CSS');
  t.notMatch(style.childNodes[0].textContent, EVIL);
  t.equal(rect.tagName, 'rect');
  t.same([math.tagName, math.childNodes.length], ['span', 1], 'an unknown HTML name becomes a span with its content');
  t.same([custom.tagName, custom.isCustom], ['my-widget', true]);
  t.same([reserved.tagName, reserved.isCustom], ['span', false], 'reserved names are no custom elements');
});

t.test('attributes: allow-list, URLs per element, presentation attributes as CSS', async (t) => {
  const s = new EventSanitizer(policy);
  const nodes = [
    el('img', { src: `https://${EVIL}/i`, onerror: 'x', OnLoad: 'x', 'foo:onclick': 'x', alt: 'ok', srcset: `https://shop.example.com/a.png 1x,https://${EVIL}/b.png 2x` }),
    el('img', { src: 'https://shop.example.com/a.png', 'data-x': '1', 'aria-label': 'l', rr_dataURL: 'data:image/png;base64,AA', loading: 'lazy' }),
    el('iframe', { src: 'https://shop.example.com/', srcdoc: '<script>1</script>', sandbox: 'allow-scripts' }),
    el('a', { href: `https://${EVIL}/`, ping: `https://${EVIL}/p`, target: '_blank', title: 't' }),
    el('a', { href: 'https://shop.example.com/cart' }),
    el('link', { rel: 'prefetch', href: `https://shop.example.com/x` }),
    el('link', { rel: 'stylesheet', href: `https://${EVIL}/x.css` }),
    el('link', { rel: 'stylesheet', href: 'https://shop.example.com/x.css', _cssText: `a{background:\\75 rl(https://${EVIL}/c)}` }),
    el('meta', { 'http-equiv': 'refresh', content: `0;url=https://${EVIL}/` }),
    el('meta', { name: 'referrer', content: 'unsafe-url' }),
    el('form', { action: `https://${EVIL}/f`, method: 'post' }, [el('button', { formaction: `https://${EVIL}/b` })]),
    el('video', { poster: `https://${EVIL}/p`, src: 'https://shop.example.com/v.mp4' }, [el('track', { src: `https://${EVIL}/t.vtt` })]),
    el('table', { background: `https://${EVIL}/bg` }),
    el('div', { style: `background:u\\72 l(https://${EVIL}/s);color:red` }),
    el('svg', { viewBox: '0 0 10 10', xmlns: 'http://www.w3.org/2000/svg' }, [
      el('rect', { fill: `\\75 rl(https://${EVIL}/fill)`, mask: `url(https://${EVIL}/mask)`, 'clip-path': `url("https://${EVIL}/clip")`, 'marker-start': `url(https://${EVIL}/m)`, 'marker-end': `URL(https://${EVIL}/m2)`, cursor: `url(https://${EVIL}/c), auto`, filter: `url(https://${EVIL}/f#x)`, stroke: 'url(#grad)', d: 'M0 0L10 10' }, [], { isSVG: true }),
      el('use', { 'xlink:href': `https://${EVIL}/s.svg#x` }, [], { isSVG: true }),
      el('use', { href: '#sym' }, [], { isSVG: true }),
      el('image', { href: `https://${EVIL}/i.png`, 'xlink:href': 'https://shop.example.com/i.png' }, [], { isSVG: true }),
      el('feImage', { href: `https://${EVIL}/fe.png` }, [], { isSVG: true }),
      el('a', { 'xlink:href': 'javascript:alert(1)' }, [], { isSVG: true }),
      el('linearGradient', { gradientUnits: 'userSpaceOnUse', href: `https://${EVIL}/g.svg#g` }, [], { isSVG: true }),
    ], { isSVG: true }),
  ];
  const out = bodyOf(s.event(full(structuredClone(nodes))));
  const [img1, img2, iframe, a1, a2, prefetch, css1, css2, meta1, meta2, form, video, table, div, svg] = out;
  t.same(img1.attributes, { alt: 'ok', srcset: 'https://shop.example.com/a.png 1x' }, 'handlers (any case, any prefix) and the evil src/candidate dropped');
  t.same(img2.attributes, nodes[1].attributes, 'allowed src, data-/aria-, rrweb data URL kept');
  t.same(iframe.attributes, {}, 'iframe: no src, srcdoc or sandbox');
  t.same(a1.attributes, { href: '#', title: 't' }, 'a link elsewhere goes nowhere; ping and target dropped');
  t.same(a2.attributes, { href: 'https://shop.example.com/cart' });
  t.same(prefetch.attributes, { href: 'https://shop.example.com/x' }, 'rel=prefetch dropped');
  t.same(css1.attributes, { rel: 'stylesheet' }, 'a style sheet elsewhere dropped');
  t.notMatch(css2.attributes._cssText, EVIL, 'inlined style sheet text sanitised');
  t.same(meta1.attributes, {}, 'http-equiv and its content dropped');
  t.same(meta2.attributes, { content: 'unsafe-url' }, 'name=referrer dropped');
  t.same([form.attributes, form.childNodes[0].attributes], [{ method: 'post' }, {}], 'action and formaction dropped');
  t.same([video.attributes, video.childNodes[0].attributes], [{ src: 'https://shop.example.com/v.mp4' }, {}]);
  t.same(table.attributes, {});
  t.equal(div.attributes.style, 'background:none;color:red');
  t.equal(svg.attributes.viewBox, '0 0 10 10', 'SVG attribute case kept');
  const [rect, use1, use2, image, feImage, svgA, grad] = svg.childNodes;
  for (const k of ['fill', 'mask', 'clip-path', 'marker-start', 'marker-end', 'cursor', 'filter']) t.notMatch(String(rect.attributes[k]), EVIL, `presentation attribute ${k} checked as CSS`);
  t.equal(rect.attributes.stroke, 'url("#grad")', 'a fragment reference kept');
  t.equal(rect.attributes.d, 'M0 0L10 10');
  t.same(use1.attributes, {}, 'use to another origin dropped');
  t.same(use2.attributes, { href: '#sym' });
  t.same(image.attributes, { 'xlink:href': 'https://shop.example.com/i.png' }, 'svg image: each href checked');
  t.same(feImage.attributes, {});
  t.same(svgA.attributes, { 'xlink:href': '#' });
  t.same(grad.attributes, { gradientUnits: 'userSpaceOnUse' });
});

t.test('incremental events: mutations, style rules, declarations, adopted sheets, dropped kinds', async (t) => {
  const s = new EventSanitizer(policy);
  const styleEl = el('style', {}, [txt('a{}')]);
  const script = el('script');
  const img = el('img', { src: 'https://shop.example.com/a.png' });
  const div = el('div');
  s.event(full([styleEl, script, img, div]));
  const laterStyle = el('svg:style', {}, [], { isSVG: true });
  const m = s.event({
    type: 3, timestamp: 2, data: {
      source: 0,
      adds: [
        { parentId: laterStyle.id, nextId: null, node: txt(`a{background:\\75 rl(https://${EVIL}/queued)}`) }, // before its parent
        { parentId: div.id, nextId: null, node: laterStyle },
        { parentId: script.id, nextId: null, node: txt('alert(1)') },
        { parentId: div.id, nextId: null, node: el('img', { src: `https://${EVIL}/added`, onerror: 'x' }) },
        { parentId: div.id, nextId: null, node: el('svg', {}, [el('set', { attributeName: 'href', to: `https://${EVIL}/set` }, [], { isSVG: true })], { isSVG: true }) },
      ],
      texts: [{ id: (styleEl.childNodes[0] as any).id, value: `b{background:url(https://${EVIL}/text)}` }],
      attributes: [
        { id: img.id, attributes: { src: `https://${EVIL}/attr`, srcset: `https://${EVIL}/s 1x`, onload: 'x', style: { background: `url(https://${EVIL}/obj)`, color: ['red', 'important'] } } },
        { id: script.id, attributes: { src: `https://${EVIL}/s.js` } },
        { id: 99999, attributes: { src: `https://${EVIL}/unknown` } },
        { id: div.id, attributes: { attributeName: 'href', 'http-equiv': 'refresh' } },
      ],
      removes: [{ id: img.id, parentId: 1 }, { nope: 1 }],
    },
  }) as any;
  const json = JSON.stringify(m);
  t.notMatch(json, EVIL, 'nothing evil survives a mutation');
  t.equal(m.data.adds.length, 4, 'the add into the script placeholder is dropped');
  t.equal(m.data.adds[1].node.tagName, 'style');
  t.same(m.data.attributes.map((a: any) => a.id), [img.id, div.id], 'changes to placeholders and unknown ids dropped');
  t.same(m.data.attributes[0].attributes, { style: { background: 'none', color: ['red', 'important'] } });
  t.same(m.data.attributes[1].attributes, {}, 'attributeName and http-equiv are not allowed attributes');
  t.equal(m.data.removes.length, 1);
  t.equal(m.data.adds[3].node.childNodes[0].tagName, 'noscript', 'an added SVG <set> is a placeholder');

  const rules = [
    { type: 3, timestamp: 3, data: { source: 8, id: styleEl.id, adds: [{ rule: `a{background:\\55 RL(https://${EVIL}/rule)}`, index: 0 }, { nope: 1 }], replace: `@import "https://${EVIL}/r.css";`, replaceSync: `a{cursor:url(https://${EVIL}/c),auto}` } },
    { type: 3, timestamp: 3, data: { source: 13, id: styleEl.id, index: [0], set: { property: 'background', value: `image-set("https://${EVIL}/decl" 1x)` } } },
    { type: 3, timestamp: 3, data: { source: 15, id: 1, styleIds: [1], styles: [{ styleId: 1, rules: [{ rule: `a{mask-image:url(https://${EVIL}/adopted)}`, index: 0 }] }] } },
  ];
  for (const r of rules) t.notMatch(JSON.stringify(s.event(r)), EVIL, `style event source ${r.data.source} sanitised`);

  for (const e of [
    { type: 3, timestamp: 3, data: { source: 9, id: 1, commands: [] } },
    { type: 3, timestamp: 3, data: { source: 10, family: 'x', fontSource: `url(https://${EVIL}/)` } },
    { type: 5, timestamp: 3, data: { tag: 'x', payload: {} } },
    { type: 6, timestamp: 3, data: { plugin: 'x', payload: {} } },
    { type: 7, timestamp: 3, data: {} },
    { type: 99, timestamp: 3, data: {} },
    { type: 3, timestamp: 3, data: { source: 16, define: { name: 'bad name' } } },
  ]) t.equal(s.event(e), null, `dropped: ${JSON.stringify(e).slice(0, 60)}`);
  const resize = s.event({ type: 3, timestamp: 4, data: { source: 4, width: 1e9, height: -5 } }) as any;
  t.same([resize.data.width, resize.data.height], [16384, 1], 'viewport sizes clamped');
});

t.test('never throws on malformed input', async (t) => {
  const s = new EventSanitizer(policy);
  const junk: unknown[] = [null, 1, 'x', [], {}, { type: 2 }, { type: 2, timestamp: 1, data: null }, { type: 2, timestamp: 1, data: { node: { type: 2, id: 1, tagName: 5 } } },
    { type: 3, timestamp: 1, data: { source: 0, adds: 'x', attributes: [null, { id: 1, attributes: null }], texts: [{ id: 'x' }] } },
    { type: 2, timestamp: 1, data: { node: { type: 0, id: 1, childNodes: [{ type: 2, id: 2, tagName: 'div', attributes: { style: 5, href: {} }, childNodes: 'nope' }] } } },
    { type: 3, timestamp: 1, data: { source: 8, adds: 5, replace: {} } }, { type: 3, timestamp: 1, data: { source: 15, styles: [null, { rules: 'x' }] } },
    { type: 4, timestamp: 1, data: { width: 'wide', height: 1 } }];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const atom = () => pick<unknown>([null, true, 0, -1, 1e308, 'javascript:x', 'url(http://127.0.0.1)', '\\75 rl(', 'image-set(', '@import "', {}, [], 'on', 2, 3]);
  const gen = (d: number): unknown => (d > 3 ? atom() : rnd() < 0.5 ? Object.fromEntries(Array.from({ length: 4 }, () => [pick(['type', 'id', 'data', 'node', 'childNodes', 'attributes', 'source', 'adds', 'tagName', 'timestamp', 'onload', 'style', 'rule', 'rules', 'styles']), gen(d + 1)])) : Array.from({ length: 3 }, () => gen(d + 1)));
  for (let i = 0; i < 2000; i++) junk.push({ type: pick([2, 3, 4]), timestamp: 1, data: gen(0) });
  for (const j of junk) s.event(j);
  for (let i = 0; i < 500; i++) sanitizeCss(Array.from({ length: 12 }, () => pick(['url(', '\\75 rl(', '"', "'", ')', '(', '{', '}', ';', '@import', 'image-set(', 'var(--x)', '\\', '/*', '*/', ' ', 'https://x', ','])).join(''), policy);
  t.pass('2000+ malformed events and 500 random CSS strings, no exception');
});
