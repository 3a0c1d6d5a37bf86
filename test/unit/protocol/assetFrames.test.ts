/**
 * Asset frames without a browser: the wire codec (protocol/assetFrame.ts), what the embed picks
 * from a masked snapshot (client/assets.ts), and the viewer's store and rewriting
 * (agent-viewer/assets.ts). The end-to-end proof (fonts and images on http pages, fonts without
 * CORS on https) is test/e2e/browser-viewer/fidelityHttps.test.ts.
 */
import t from 'tap';
import { ASSET_MAX_BYTES, decodeAssetPayload, encodeAssetFrame, FrameKind, isKnownFrameKind } from '../../../protocol/index.ts';
import { referencedUrls } from '../../../client/assets.ts';
import { AssetStore, VIEWER_ASSET_BUDGET_BYTES } from '../../../agent-viewer/assets.ts';

const ORIGIN = 'http://shop.example.com';
const policy = () => ({ baseUrl: 'https://relay.example.com/agent/', pageOrigins: [ORIGIN] });
const bytes = (n: number) => new Uint8Array(n).fill(7);

t.test('codec: round trip, and the relay accepts kind 5', async (t) => {
  const frame = encodeAssetFrame({ url: `${ORIGIN}/a.woff2`, type: 'font/woff2', bytes: bytes(10) });
  t.equal(frame[0], FrameKind.Asset);
  t.ok(isKnownFrameKind(frame[0]));
  const a = decodeAssetPayload(frame.subarray(1));
  t.same([a.url, a.type, a.bytes.byteLength], [`${ORIGIN}/a.woff2`, 'font/woff2', 10]);
});

t.test('codec: malformed or unwanted asset frames are refused', async (t) => {
  // A payload with any header, built by hand (the encoder only makes good ones).
  const payload = (h: unknown, body = bytes(1)) => {
    const hb = new TextEncoder().encode(JSON.stringify(h));
    const p = new Uint8Array(2 + hb.length + body.length);
    p[0] = hb.length >> 8;
    p[1] = hb.length & 255;
    p.set(hb, 2);
    p.set(body, 2 + hb.length);
    return p;
  };
  t.throws(() => decodeAssetPayload(new Uint8Array([0])), /too short/);
  t.throws(() => decodeAssetPayload(new Uint8Array([0, 50, 1])), /truncated/);
  t.throws(() => decodeAssetPayload(payload({ url: 'javascript:alert(1)', type: 'image/png' })), /http/);
  t.throws(() => decodeAssetPayload(payload({ url: `${ORIGIN}/x.html`, type: 'text/html' })), /type/);
  t.throws(() => decodeAssetPayload(payload({ url: `${ORIGIN}/x.svg`, type: 'image/svg+xml; charset=x' })), /type/);
  t.throws(() => decodeAssetPayload(payload({ url: `${ORIGIN}/big.png`, type: 'image/png' }, bytes(ASSET_MAX_BYTES + 1))), /too big/);
  t.throws(() => decodeAssetPayload(payload([1, 2])), /url/);
});

t.test('embed: only what the masked snapshot references, fonts marked, in document order', async (t) => {
  const snapshot = {
    type: 0, childNodes: [{
      type: 2, tagName: 'html', attributes: {}, childNodes: [
        { type: 2, tagName: 'link', attributes: { _cssText: `@font-face{font-family:Inter;src:url(${ORIGIN}/f/inter.woff2) format("woff2")}.hero{background:url("${ORIGIN}/img/hero.png")}` }, childNodes: [] },
        { type: 2, tagName: 'style', attributes: {}, childNodes: [{ type: 3, textContent: `.x{background-image:url('${ORIGIN}/img/x.png')}` }] },
        { type: 2, tagName: 'p', attributes: {}, childNodes: [{ type: 3, textContent: `url(${ORIGIN}/not-css.png)` }] },
        { type: 2, tagName: 'img', attributes: { src: `${ORIGIN}/img/a.png`, srcset: `${ORIGIN}/img/a.png 1x, ${ORIGIN}/img/a2.png 2x` }, childNodes: [] },
        // A masked block: rrweb keeps only its size, so nothing of it can be asked for.
        { type: 2, tagName: 'img', attributes: { rr_width: '10px', rr_height: '10px' }, childNodes: [] },
        { type: 2, tagName: 'div', attributes: { style: `background:url(${ORIGIN}/img/inline.png)` }, childNodes: [] },
      ],
    }],
  };
  const got = referencedUrls(snapshot);
  t.same(got.map((c) => [c.url.slice(ORIGIN.length), c.font]), [
    ['/f/inter.woff2', true], ['/img/hero.png', false], ['/img/x.png', false], ['/img/a.png', false], ['/img/a2.png', false], ['/img/inline.png', false],
  ]);
});

t.test('viewer: held assets replace their URLs after the sanitiser, everywhere a page can reference them', async (t) => {
  const store = new AssetStore(policy());
  t.ok(store.add({ url: `${ORIGIN}/f/inter.woff2`, type: 'font/woff2', bytes: bytes(100) }));
  t.ok(store.add({ url: `${ORIGIN}/img/a.png`, type: 'image/png', bytes: bytes(100) }));
  t.notOk(store.add({ url: 'https://elsewhere.example.net/a.png', type: 'image/png', bytes: bytes(100) }), 'another origin than the account\'s: refused');
  const font = store.lookup(`${ORIGIN}/f/inter.woff2`)!;
  const img = store.lookup(`${ORIGIN}/img/a.png`)!;
  t.match(font, /^blob:/);
  const full = {
    type: 2, data: { node: { type: 0, childNodes: [
      { type: 2, tagName: 'style', attributes: {}, childNodes: [{ type: 3, textContent: `@font-face { src: url("${ORIGIN}/f/inter.woff2") format("woff2") } .k { background: url(${ORIGIN}/img/missing.png) }` }] },
      { type: 2, tagName: 'img', attributes: { src: `${ORIGIN}/img/a.png`, srcset: `${ORIGIN}/img/a.png 1x, ${ORIGIN}/img/a@2x.png 2x` }, childNodes: [] },
      { type: 2, tagName: 'a', attributes: { href: `${ORIGIN}/img/a.png` }, childNodes: [] },
    ] } },
  };
  store.rewriteEvent(full as never);
  const [style, im, a] = full.data.node.childNodes as any[];
  t.equal(style.childNodes[0].textContent, `@font-face { src: url("${font}") format("woff2") } .k { background: url(${ORIGIN}/img/missing.png) }`);
  t.equal(im.attributes.src, img);
  t.equal(im.attributes.srcset, `${img} 1x`, 'only held candidates are kept');
  t.equal(a.attributes.href, `${ORIGIN}/img/a.png`, 'links are never pointed at a blob');

  const mutation = { type: 3, data: { source: 0, adds: [], removes: [], texts: [], attributes: [{ id: 5, attributes: { style: { background: [`url('${ORIGIN}/img/a.png')`, 'important'] } } }, { id: 6, attributes: { src: `${ORIGIN}/img/a.png` } }] } };
  store.rewriteEvent(mutation as never);
  t.same(mutation.data.attributes[0].attributes.style, { background: [`url("${img}")`, 'important'] });
  t.equal(mutation.data.attributes[1].attributes.src, img);
  const adopted = { type: 3, data: { source: 15, id: 1, styles: [{ styleId: 1, rules: [{ rule: `:host { background: url(${ORIGIN}/img/a.png) }` }] }] } };
  store.rewriteEvent(adopted as never);
  t.equal(adopted.data.styles[0].rules[0].rule, `:host { background: url("${img}") }`);

  store.clear();
  t.equal(store.count, 0);
  t.equal(store.lookup(`${ORIGIN}/img/a.png`), undefined);
});

t.test('viewer: the session budget bounds what is held', async (t) => {
  const store = new AssetStore(policy());
  const big = Math.floor(VIEWER_ASSET_BUDGET_BYTES / 3) + 1;
  t.ok(store.add({ url: `${ORIGIN}/1.png`, type: 'image/png', bytes: bytes(big) }));
  t.ok(store.add({ url: `${ORIGIN}/2.png`, type: 'image/png', bytes: bytes(big) }));
  t.notOk(store.add({ url: `${ORIGIN}/3.png`, type: 'image/png', bytes: bytes(big) }), 'over the budget: refused');
  t.ok(store.add({ url: `${ORIGIN}/1.png`, type: 'image/png', bytes: bytes(big) }), 'a re-sent asset keeps its blob and costs nothing');
  t.equal(store.count, 2);
  store.clear();
});
