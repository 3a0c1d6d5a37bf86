/**
 * A change too big for the relay's frame limit, in an encrypted session: the embed refuses it before
 * sealing, so the sequence has no hole (a hole is what the viewer must take for a relay dropping
 * frames, and says so), and skips to a fresh snapshot so the view does not miss the change.
 * The relay runs with MAX_PAYLOAD_BYTES at 1 MiB: its welcome tells the embed, which sizes its frames
 * to it (with the default 16 MiB, a 1 MiB relay closed the visitor's socket, `tooBig`, on such a frame).
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';

const LIMIT = 1024 * 1024;
import { startE2eRig, watchRigPage } from '../../helpers/e2eRig.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium)');
} else {
  t.test('an oversize change leaves no hole in the sealed sequence; the view catches up', async (t) => {
    const rig = await startE2eRig('required', { MAX_PAYLOAD_BYTES: String(LIMIT) });
    t.teardown(rig.close);
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const { viewer, visitor } = await watchRigPage(browser, rig);
    await visitor.evaluate(() => (window as any).Cobrowse.on('error', (d: { message: string }) => (window as any).__events.push({ name: 'error', detail: d })));
    await viewer.page.waitForFunction(() => document.getElementById('e2e')?.dataset.e2e === 'on', null, { timeout: 10_000 });
    const badBefore = Number((await viewer.page.getAttribute('#stage', 'data-frames-bad')) ?? 0);

    // 1.5 MiB of base64 (deflate gets it to ~3/4: over the 1 MiB limit still), then (in a later task) gone again and a small change after it.
    let newSockets = 0;
    visitor.on('websocket', () => newSockets++);
    await visitor.evaluate(async () => {
      const bytes = new Uint8Array(1.5 * 1024 * 1024 * 3 / 4);
      for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
      let s = '';
      for (let i = 0; i < bytes.length; i += 32768) s += btoa(String.fromCharCode(...bytes.subarray(i, i + 32768)));
      const big = document.createElement('p');
      big.id = 'big';
      big.textContent = s;
      document.body.append(big);
      await new Promise((r) => setTimeout(r, 0));
      big.remove();
      document.getElementById('c')!.insertAdjacentHTML('afterend', '<p id="after">AFTERbig53</p>');
    });
    await visitor.waitForFunction(() => (window as any).__events.some((e: any) => e.name === 'error' && /over the relay's limit/.test(e.detail.message)), null, { timeout: 20_000 }).catch(async (e) => {
      t.comment(JSON.stringify(await visitor.evaluate(() => (window as any).__events.map((e: any) => [e.name, JSON.stringify(e.detail).slice(0, 200)]))));
      throw e;
    });
    t.pass('the embed reports the frame over the relay\'s limit');
    await viewer.waitInView((d) => d.getElementById('after')?.textContent === 'AFTERbig53', 20_000, 'the change after the oversize one (a fresh snapshot)');
    t.notOk(await viewer.inView((d) => !!d.getElementById('big')), 'the oversize node is not in the view');
    t.equal(Number((await viewer.page.getAttribute('#stage', 'data-frames-bad')) ?? 0), badBefore, 'the viewer refused no frame (no hole in the sequence)');
    t.not(await viewer.page.getAttribute('#notice', 'data-code'), 'out_of_order', 'and raised no replay or drop alarm');
    t.equal(await viewer.page.getAttribute('#e2e', 'data-e2e'), 'on', 'the session is still end-to-end encrypted');
    t.equal(newSockets, 0, 'the visitor\'s socket was never closed (no reconnect)');

    // The stream goes on.
    await visitor.evaluate(() => document.getElementById('c')!.insertAdjacentHTML('afterend', '<p id="after2">AFTERbig71</p>'));
    await viewer.waitInView((d) => d.getElementById('after2')?.textContent === 'AFTERbig71', 10_000, 'a later change');
  });
}
