/**
 * Images that load after the snapshot (lazy images, content the page adds later) on an http site,
 * whose files the agent's browser may not load itself (the viewer's CSP allows https: only; an
 * intranet is out of reach): the embed sends each one when it has loaded, unless it is masked, and
 * the view points the replayed `<img>` at it (client/assets.ts `watchLateImages`,
 * agent-viewer/assets.ts `patchImages`). The snapshot-time path is covered, pixel by pixel, by
 * test/e2e/browser-viewer/fidelityHttps.test.ts.
 */
import t from 'tap';
import { chromiumAvailable } from '../../helpers/browser.ts';
import { allowFromKeyboard, openViewer } from '../../helpers/viewerPage.ts';
import { fidelityStack, openSitePage } from '../../helpers/viewerSetups.ts';

const HOST = 'shop-http.example.com';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('an image that loads after the snapshot reaches the view; a masked one is never sent', async (t) => {
    const { site, r, base, browser } = await fidelityStack(t, { secure: false, host: HOST, account: 'acme' });
    const viewer = await openViewer(browser, base, r.token(r.acme, 'alice', 'Alice'), { width: 1400, height: 950 });
    const { page: visitor, vid } = await openSitePage(browser, site, 'shop.html');
    await viewer.watch(vid, '');
    await allowFromKeyboard(visitor, 'Allow');
    await viewer.waitState('live', 15_000);
    const assets = async () => Number(await viewer.page.getAttribute('#stage', 'data-assets'));
    t.ok((await assets()) > 0, 'the snapshot came with its assets');

    const add = (html: string) => visitor.evaluate((h) => {
      const div = document.createElement('div');
      div.innerHTML = h;
      document.body.prepend(div);
      const img = div.querySelector('img')!;
      return new Promise<boolean>((resolve) => (img.complete ? resolve(img.naturalWidth > 0) : img.addEventListener('load', () => resolve(true), { once: true })));
    }, html);
    const shown = (id: string) => viewer.waitInView(`(d) => { const img = d.getElementById('${id}'); return img && img.complete && img.naturalWidth === 320 && img.getAttribute('src').startsWith('blob:'); }` as never, 10_000, `${id} shown in the view from its asset frame`);
    // A masked image (it must never be sent), then two plain ones: the second is shown only after the
    // first, whose read started after the masked one's, so a masked asset would have been counted by then.
    const before = await assets();
    t.ok(await add('<div data-cobrowse-hidden><img id="late-secret" src="/img/late-secret.png" width="160" height="100"></div>'), 'the visitor sees the masked image');
    t.ok(await add('<img id="late-photo" src="/img/late-photo.png" width="160" height="100">'), 'the visitor sees a late image');
    await shown('late-photo');
    t.ok(await add('<img id="late-photo-2" src="/img/late-photo-2.png" width="160" height="100">'), 'and another');
    await shown('late-photo-2');
    t.pass('late images show in the view');
    t.equal(await assets(), before + 2, 'exactly two more assets: the masked image was not sent');
    t.equal(await viewer.inView((d) => d.getElementById('late-secret')), null, 'and the masked image is not in the view');
  });
}
