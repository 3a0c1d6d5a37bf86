/**
 * A hostile page as an rrweb stream: every class of vector from the hardening issue (CSS escapes
 * in url(), image functions, @import, @font-face, SVG presentation attributes, namespaced
 * svg:style/svg:script, SVG animation, xlink:href, srcset without spaces, meta refresh, link
 * rel types, base href, frames, forms, handlers) and variants of each. `bad(name)` is a URL on a
 * server the account does not allow; `js(name)` is script that would record an execution.
 * `ok(name)` are the positive controls: the same channels pointing at an origin the account
 * allows, which the test waits for (they must arrive: the channel works and the browser did
 * process the vectors next to them).
 */
import type { NodeBuilder, SNode } from './viewerStream.ts';

export interface CorpusUrls {
  /** A forbidden https URL (the server counts requests). */
  bad: (name: string) => string;
  /** A forbidden http URL, and the same server as localhost / [::1]. */
  badHttp: (name: string, host?: string) => string;
  /** An allowed https URL (positive control). */
  ok: (name: string) => string;
  js: (name: string) => string;
}

export interface Corpus {
  head: SNode[];
  body: SNode[];
  /** Control paths on the allowed server that the full snapshot must produce. */
  controls: string[];
  /** Vectors counted (for the report and the ≥ 40 check). */
  vectors: string[];
  /** Incremental events against the snapshot's nodes; their controls. */
  incremental(now: number, bodyId: number): { events: unknown[]; controls: string[] };
}

const BOX = 'display:block;width:24px;height:24px';

export function hostileCorpus(b: NodeBuilder, u: CorpusUrls): Corpus {
  const vectors: string[] = [];
  const v = (name: string) => (vectors.push(name), name);
  const box = (id: string, attrs: Record<string, unknown> = {}, children: SNode[] = []) => b.el('div', { id, style: BOX, ...attrs }, children);

  // ---- CSS in a <style> element: one rule per vector, each on its own box.
  const cssRules: Array<[string, string]> = [
    ['css-esc-75', `background-image:\\75 rl(${u.bad(v('css-esc-75'))})`],
    ['css-esc-72', `background-image:u\\72 l(${u.bad(v('css-esc-72'))})`],
    ['css-esc-55', `background-image:\\55 RL(${u.bad(v('css-esc-55'))})`],
    ['css-esc-000075', `background-image:\\000075rl(${u.bad(v('css-esc-000075'))})`],
    ['css-esc-nospace', `background-image:\\75rl(${u.bad(v('css-esc-nospace'))})`],
    ['css-esc-quoted', `background-image:\\75 Rl("${u.bad(v('css-esc-quoted'))}")`],
    ['css-esc-scheme', `background-image:url("https\\3a //${u.bad(v('css-esc-scheme')).slice('https://'.length)}")`],
    ['css-comments', `background/**/-image:/**/\\75 rl(${u.bad(v('css-comments'))})/**/`],
    ['css-upper', `background-image:URL(${u.bad(v('css-upper'))})`],
    ['css-image-set', `background-image:image-set("${u.bad(v('css-image-set'))}" 1x)`],
    ['css-webkit-image-set', `background-image:-webkit-image-set(url(${u.bad(v('css-webkit-image-set'))}) 1x)`],
    ['css-webkit-image-set-str', `background-image:-webkit-image-set("${u.bad(v('css-webkit-image-set-str'))}" 1x)`],
    ['css-image-set-esc', `background-image:\\69 mage-set('${u.bad(v('css-image-set-esc'))}' 1x)`],
    ['css-cross-fade', `background-image:-webkit-cross-fade(url(${u.bad(v('css-cross-fade'))}), url(${u.bad('css-cross-fade-2')}), 50%)`],
    ['css-image-set-var', `--u:"${u.bad(v('css-image-set-var'))}";background-image:image-set(var(--u) 1x)`],
    ['css-cursor', `cursor:url(${u.bad(v('css-cursor'))}),auto`],
    ['css-filter', `filter:url(${u.bad(v('css-filter'))}#f)`],
    ['css-mask-image', `-webkit-mask-image:url(${u.bad(v('css-mask-image'))});mask-image:url(${u.bad('css-mask-image-2')})`],
    ['css-border-image', `border:6px solid;border-image:url(${u.bad(v('css-border-image'))}) 3`],
    ['css-list-style', `display:list-item;margin-left:30px;list-style:square inside url(${u.bad(v('css-list-style'))})`],
    ['css-content', `content:url(${u.bad(v('css-content'))})`],
    ['css-shape-outside', `float:left;shape-outside:url(${u.bad(v('css-shape-outside'))})`],
    ['css-http-localhost', `background-image:url(${u.badHttp(v('css-http-localhost'), 'localhost')})`],
    ['css-http-ipv6', `background-image:url(${u.badHttp(v('css-http-ipv6'), '[::1]')})`],
  ];
  const styleText = [
    `@font-face{font-family:hostile;src:url(${u.bad(v('css-font-face'))}) format("woff"),\\75 rl(${u.bad('css-font-face-esc')})}`,
    `#css-font{font-family:hostile}`,
    ...cssRules.map(([id, decl]) => (id === 'css-content' ? `#${id}::before{${decl}}` : `#${id}{${decl}}`)),
    `#ctl-style{background-image:url(${u.ok('ctl-style')})}`,
  ].join('\n');
  const importA = `@import "${u.bad(v('css-import-string'))}";`;
  const importB = `@import url(${u.bad(v('css-import-url'))}) screen; @\\69mport '${u.bad(v('css-import-escaped'))}';`;

  const head: SNode[] = [
    b.el('title', {}, [b.text('pwned title')]),
    b.el('meta', { 'http-equiv': 'refresh', content: `0;url=${u.bad(v('meta-refresh'))}` }),
    b.el('meta', { 'HTTP-EQUIV': 'Refresh', content: `0; URL='${u.bad(v('meta-refresh-case'))}'` }),
    b.el('meta', { 'http-equiv': 'refresh', content: `0;url=javascript:${u.js('meta-refresh-js')}` }),
    b.el('base', { href: u.bad(v('base-href')) + '/' }),
    b.el('link', { rel: 'stylesheet', href: u.bad(v('link-stylesheet')) }),
    b.el('link', { rel: 'prefetch', href: u.bad(v('link-prefetch')) }),
    b.el('link', { rel: 'preload', as: 'image', href: u.bad(v('link-preload')) }),
    b.el('link', { rel: 'modulepreload', href: u.bad(v('link-modulepreload')) }),
    b.el('link', { rel: 'dns-prefetch preconnect', href: u.bad(v('link-preconnect')) }),
    b.el('link', { rel: 'icon', href: u.bad(v('link-icon')) }),
    b.el('link', { rel: 'stylesheet', href: 'https://shop.example.com/x.css', _cssText: `#css-link{background-image:u\\72 l(${u.bad(v('link-csstext'))})}` }),
    b.el('style', {}, [b.text(importA)]),
    b.el('style', {}, [b.text(importB)]),
    b.el('style', {}, [b.text(styleText, { isStyle: true })]),
    b.el('script', {}, [b.text(u.js('head-script'))]),
  ];

  const svgKids: SNode[] = [
    b.el('svg:style', {}, [b.text(`#svg-style{background-image:\\75 rl(${u.bad(v('svg-style-ns'))})}`)], { isSVG: true }),
    b.el('style', {}, [b.text(`#svg-style2{background-image:url(${u.bad(v('svg-style'))})}`)], { isSVG: true }),
    b.el('svg:script', {}, [b.text(u.js('svg-script-ns'))], { isSVG: true }),
    b.el('script', {}, [b.text(u.js('svg-script'))], { isSVG: true }),
    b.el('rect', { width: '10', height: '10', fill: `url(${u.bad(v('svg-fill'))}#p)` }, [], { isSVG: true }),
    b.el('rect', { width: '10', height: '10', fill: `\\75 rl(${u.bad(v('svg-fill-esc'))}#p)` }, [], { isSVG: true }),
    b.el('rect', { width: '10', height: '10', stroke: `url(${u.bad(v('svg-stroke'))}#p)` }, [], { isSVG: true }),
    b.el('rect', { width: '10', height: '10', mask: `url(${u.bad(v('svg-mask'))}#m)` }, [], { isSVG: true }),
    b.el('rect', { width: '10', height: '10', 'clip-path': `url(${u.bad(v('svg-clip-path'))}#c)` }, [], { isSVG: true }),
    b.el('rect', { width: '10', height: '10', filter: `url(${u.bad(v('svg-filter'))}#f)` }, [], { isSVG: true }),
    b.el('rect', { width: '10', height: '10', cursor: `url(${u.bad(v('svg-cursor'))}), auto` }, [], { isSVG: true }),
    b.el('path', { d: 'M0 0L5 5L10 0', 'marker-start': `url(${u.bad(v('svg-marker-start'))}#m)`, 'marker-mid': `url(${u.bad(v('svg-marker-mid'))}#m)`, 'marker-end': `u\\72 l(${u.bad(v('svg-marker-end'))}#m)` }, [], { isSVG: true }),
    b.el('image', { width: '5', height: '5', 'xlink:href': u.bad(v('svg-image-xlink')) }, [], { isSVG: true }),
    b.el('image', { width: '5', height: '5', href: u.bad(v('svg-image-href')) }, [], { isSVG: true }),
    b.el('use', { 'xlink:href': `${u.bad(v('svg-use-xlink'))}#x` }, [], { isSVG: true }),
    b.el('use', { href: `${u.bad(v('svg-use-href'))}#x` }, [], { isSVG: true }),
    b.el('image', { width: '5', height: '5' }, [b.el('set', { attributeName: 'href', to: u.bad(v('svg-set-href')) }, [], { isSVG: true })], { isSVG: true }),
    b.el('image', { width: '5', height: '5' }, [b.el('animate', { attributeName: 'href', values: u.bad(v('svg-animate-href')), dur: '1s' }, [], { isSVG: true })], { isSVG: true }),
    b.el('a', { id: 'svg-a' }, [b.el('set', { attributeName: 'href', to: `javascript:${u.js('svg-set-js')}` }, [], { isSVG: true }), b.el('rect', { width: '5', height: '5' }, [], { isSVG: true })], { isSVG: true }),
    b.el('filter', { id: 'fe' }, [b.el('feImage', { href: u.bad(v('svg-feimage')) }, [], { isSVG: true })], { isSVG: true }),
    b.el('rect', { width: '10', height: '10', filter: 'url(#fe)' }, [], { isSVG: true }),
    b.el('svg:image', { width: '5', height: '5', 'svg:href': u.bad(v('svg-image-prefixed')) }, [], { isSVG: true }),
    b.el('foreignObject', { width: '20', height: '20' }, [b.el('img', { src: u.bad(v('svg-foreignobject-img')) })], { isSVG: true }),
    b.el('image', { width: '5', height: '5', href: u.ok('ctl-svg-image') }, [], { isSVG: true }),
  ];

  const body: SNode[] = [
    b.el('h1', {}, [b.text('HOSTILE-PAGE-RENDERED')]),
    b.el('script', {}, [b.text(u.js('script'))]),
    b.el('SCRIPT', { src: u.bad(v('script-src')) }),
    b.el('img', { src: 'x:y', onerror: u.js('onerror') }),
    b.el('img', { src: u.bad(v('img-src')) }),
    b.el('img', { src: u.badHttp(v('img-http-decimal'), '2130706433') }),
    b.el('img', { srcset: `${u.ok('unused-2x')} 2x,${u.bad(v('srcset-nospace'))} 1x` }),
    b.el('img', { srcset: `${u.bad(v('srcset-w'))} 100w,${u.ok('unused-w')} 2000w`, sizes: '24px' }),
    b.el('img', { srcset: `${u.bad(v('srcset-trailing-comma'))},` }),
    b.el('picture', {}, [b.el('source', { srcset: `${u.ok('unused-pic')} 2x,${u.bad(v('srcset-source'))} 1x` }), b.el('img', { alt: '' })]),
    b.el('img', { srcset: `${u.ok('ctl-srcset')} 1x` }),
    b.el('img', { src: 'relative-img' }), // resolved against <base> if it survived
    b.el('input', { type: 'image', src: u.bad(v('input-image')) }),
    b.el('video', { poster: u.bad(v('video-poster')), src: u.bad(v('video-src')), preload: 'auto' }, [b.el('track', { src: u.bad(v('track-src')), default: '' })]),
    b.el('audio', { src: u.bad(v('audio-src')), preload: 'auto' }),
    b.el('table', { background: u.bad(v('table-background')) }, [b.el('tbody', {}, [b.el('tr', {}, [b.el('td', {}, [b.text('t')])])])]),
    box('style-attr-75', { style: `${BOX};background-image:\\75 rl(${u.bad(v('style-attr-75'))})` }),
    box('style-attr-72', { style: `${BOX};background-image:u\\72 l(${u.bad(v('style-attr-72'))})` }),
    box('style-attr-55', { style: `${BOX};background-image:\\55 RL("${u.bad(v('style-attr-55'))}")` }),
    box('style-attr-imageset', { style: `${BOX};background-image:-webkit-image-set("${u.bad(v('style-attr-imageset'))}" 1x)` }),
    box('style-attr-ctl', { style: `${BOX};background-image:\\75 rl(${u.ok('ctl-attr')})` }),
    box('ctl-style'),
    box('css-font', {}, [b.text('font')]),
    box('css-link'),
    box('svg-style'),
    box('svg-style2'),
    ...cssRules.map(([id]) => box(id, id === 'css-image-set-attr' ? { 'data-u': u.bad(id) } : {}, id === 'css-list-style' ? [b.text('li')] : [])),
    box('css-attr-typed', { 'data-u': u.bad(v('css-attr-typed')), style: `${BOX};background-image:image-set(attr(data-u) 1x)` }),
    b.el('svg', { width: '100', height: '100', onload: u.js('svg-onload') }, svgKids, { isSVG: true }),
    b.el('a', { id: 'jslink', href: `javascript:${u.js('href')}`, ping: u.bad(v('a-ping')) }, [b.text('link')]),
    b.el('a', { id: 'jslink2', href: `  JaVa\tScRiPt:${u.js('href-obfuscated')}` }, [b.text('link2')]),
    b.el('iframe', { srcdoc: `<script>${u.js('srcdoc').replaceAll('parent.', 'parent.parent.')}</script><img src="${u.bad(v('srcdoc-img'))}">` }),
    b.el('iframe', { src: `javascript:${u.js('iframe-src-js')}` }),
    b.el('iframe', { src: u.bad(v('iframe-src')) }),
    b.el('object', { data: u.bad(v('object-data')) }),
    b.el('embed', { src: u.bad(v('embed-src')) }),
    b.el('form', { action: u.bad(v('form-action')), id: 'f', method: 'get' }, [b.el('input', { type: 'submit', id: 'submit', formaction: u.bad(v('formaction')) })]),
    b.el('div', { onclick: u.js('onclick'), id: 'clicky', onmouseover: u.js('onmouseover') }, [b.text('click me')]),
    b.el('details', { open: '', ontoggle: u.js('ontoggle') }, [b.el('summary', {}, [b.text('s')])]),
    b.el('input', { autofocus: '', onfocus: u.js('onfocus') }),
    b.el('img', { src: u.ok('ctl-img') }),
    b.el('div', { id: 'target' }, [b.text('target')]),
  ];

  return {
    head,
    body,
    vectors,
    controls: ['ctl-style', 'ctl-attr', 'ctl-srcset', 'ctl-svg-image', 'ctl-img'],
    incremental(now, bodyId) {
      const styleEl = head[14] as { id: number; childNodes: Array<{ id: number }> };
      const img = body.find((n) => n.tagName === 'img' && (n.attributes as Record<string, string>).src === u.ok('ctl-img')) as { id: number };
      const target = body[body.length - 1] as { id: number };
      const rect = svgKids[4] as { id: number };
      const svgImage = svgKids[12] as { id: number };
      const link = head[6] as { id: number };
      const later = b.el('svg:style', {}, [], { isSVG: true });
      const mutBox = box('mut-box');
      const ruleBox = box('rule-box');
      const declBox = box('decl-box');
      const ctlRule = box('ctl-rule-box');
      const incP = b.el('p', { id: 'inc' }, []);
      const events = [
        {
          type: 3, timestamp: now, data: {
            source: 0,
            adds: [
              { parentId: later.id, nextId: null, node: b.text(`#mut-box{background-image:\\75 rl(${u.bad(v('mut-queued-style-text'))})}`) },
              { parentId: bodyId, nextId: null, node: later },
              { parentId: bodyId, nextId: null, node: b.el('script', {}, [b.text(u.js('added-script'))]) },
              { parentId: bodyId, nextId: null, node: b.el('img', { src: 'x:', onerror: u.js('added-onerror') }) },
              { parentId: bodyId, nextId: null, node: b.el('img', { src: u.bad(v('mut-added-img')) }) },
              { parentId: bodyId, nextId: null, node: b.el('img', { srcset: `${u.ok('unused-m2x')} 2x,${u.bad(v('mut-added-srcset'))} 1x` }) },
              { parentId: bodyId, nextId: null, node: b.el('img', { src: u.ok('ctl-inc-img') }) },
              { parentId: bodyId, nextId: null, node: mutBox },
              { parentId: bodyId, nextId: null, node: ruleBox },
              { parentId: bodyId, nextId: null, node: declBox },
              { parentId: bodyId, nextId: null, node: ctlRule },
              { parentId: bodyId, nextId: null, node: incP },
              { parentId: incP.id, nextId: null, node: b.text('INCREMENTAL-APPLIED') },
            ],
            attributes: [
              { id: target.id, attributes: { onclick: u.js('attr-onclick'), style: { display: 'block', width: '24px', height: '24px', 'background-image': `\\75 rl(${u.bad(v('mut-style-object'))})` } } },
              { id: img.id, attributes: { srcset: `${u.ok('unused-a2x')} 2x,${u.bad(v('mut-attr-srcset'))} 1x` } },
              { id: rect.id, attributes: { fill: `\\55 RL(${u.bad(v('mut-svg-fill'))}#p)` } },
              { id: svgImage.id, attributes: { 'xlink:href': u.bad(v('mut-xlink-href')) } },
              { id: link.id, attributes: { rel: 'stylesheet' } },
              { id: ruleBox.id, attributes: { style: `${BOX};background-image:u\\72 l(${u.bad(v('mut-style-string'))})` } },
            ],
            texts: [{ id: styleEl.childNodes[0].id, value: `#target{background-image:\\000075rl(${u.bad(v('mut-style-text'))})}` }],
            removes: [],
          },
        },
        { type: 3, timestamp: now, data: { source: 8, id: styleEl.id, adds: [
          { rule: `#ctl-rule-box{background-image:url(${u.ok('ctl-rule')})}`, index: 0 },
          { rule: `#rule-box{background-image:\\75 rl(${u.bad(v('insert-rule'))})}`, index: 0 }, // rule 0: the declaration below changes it
        ] } },
        { type: 3, timestamp: now, data: { source: 13, id: styleEl.id, index: [0], set: { property: 'background-image', value: `\\55 RL(${u.bad(v('style-declaration'))})` } } },
        { type: 3, timestamp: now, data: { source: 9, id: target.id, type: 0, commands: [{ property: 'drawImage', args: [{ rr_type: 'HTMLImageElement', src: u.bad(v('canvas-event')) }, 0, 0] }] } },
        { type: 3, timestamp: now, data: { source: 10, family: 'x', fontSource: `url(${u.bad(v('font-event'))})`, buffer: false } },
        { type: 5, timestamp: now, data: { tag: 'x', payload: { html: `<img src=x onerror="${u.js('custom')}">` } } },
      ].map((e) => ({ ...e, timestamp: now }));
      return { events, controls: ['ctl-inc-img', 'ctl-rule'] };
    },
  };
}
