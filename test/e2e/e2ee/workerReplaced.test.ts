/**
 * The viewer's decoder worker is replaced (it failed, or stopped answering for 20 s) in the middle of
 * an encrypted session: the replacement takes over the stopped worker's replay position (pinned embed
 * key, key in use, last sequence, key ids seen), so the relay cannot use the replacement to show an
 * old frame again. Before, a replacement started blank and took a replayed full snapshot as new.
 */
import t from 'tap';
import { ENCRYPTED_KIND_BIT, FrameKind, isFullSnapshotKind } from '../../../protocol/frames.ts';
import type { TabData } from '../../../relay/sessions/types.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { startE2eRig, watchRigPage } from '../../helpers/e2eRig.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium)');
} else {
  t.test('a replaced decoder worker refuses a replayed snapshot; the live page goes on', async (t) => {
    const rig = await startE2eRig();
    t.teardown(rig.close);
    const publisher = rig.relay.relay.ctx.router.publisher;
    // The relay's tap on what it publishes to the tab's watchers: the embed's sealed full snapshots.
    const snapshots: { tab: TabData; frame: Buffer }[] = [];
    const publish = publisher.publish.bind(publisher);
    publisher.publish = (tab, message, isBinary) => {
      const b = typeof message === 'string' ? undefined : Buffer.from(ArrayBuffer.isView(message) ? new Uint8Array(message.buffer, message.byteOffset, message.byteLength) : new Uint8Array(message));
      if (isBinary && b && b.length > 0 && (b[0] & ENCRYPTED_KIND_BIT) !== 0 && isFullSnapshotKind(b[0] & ~ENCRYPTED_KIND_BIT)) snapshots.push({ tab, frame: Buffer.from(b) });
      return publish(tab, message, isBinary);
    };

    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const { viewer, visitor } = await watchRigPage(browser, rig);
    t.ok(snapshots.length > 0, `the relay published ${snapshots.length} sealed full snapshot(s)`);
    const old = snapshots[snapshots.length - 1];
    t.ok((old.frame[0] & ~ENCRYPTED_KIND_BIT) === FrameKind.FullSnapshot || (old.frame[0] & ~ENCRYPTED_KIND_BIT) === FrameKind.FullSnapshotDeflate, 'a full snapshot kind');

    // The page moves on past that snapshot.
    await visitor.evaluate(() => document.getElementById('c')!.insertAdjacentHTML('afterend', '<p id="after">AFTERreplace17</p>'));
    await viewer.waitInView((d) => d.getElementById('after')?.textContent === 'AFTERreplace17', 10_000, 'a change after the snapshot');

    // The decoder worker fails (an uncaught error in it): the viewer drops it and starts another on the next frame.
    const worker = viewer.page.workers().find((w) => w.url().includes('decode.worker'));
    t.ok(worker, 'the decoder worker is running');
    const closed = new Promise<void>((r) => worker!.once('close', () => r()));
    await worker!.evaluate(() => void setTimeout(() => {
      throw new Error('forced failure (test)');
    }));
    await closed;
    t.pass('the failed worker was stopped');

    // The relay replays the old sealed snapshot: the first frame the replacement sees.
    const badBefore = Number((await viewer.page.getAttribute('#stage', 'data-frames-bad')) ?? 0);
    publish(old.tab, old.frame, true);
    const outcome = await viewer.page.waitForFunction(
      (n) => {
        if (Number(document.getElementById('stage')!.dataset.framesBad ?? 0) > n) return 'refused';
        const f = [...document.querySelectorAll<HTMLIFrameElement>('#stage iframe')].find((f) => (f.closest('.replay-host') as HTMLElement).style.visibility !== 'hidden');
        const doc = f?.contentDocument;
        return doc?.getElementById('h') && !doc.getElementById('after') ? 'shown' : false;
      },
      badBefore,
      { timeout: 10_000 },
    ).then((h) => h.jsonValue());
    t.equal(outcome, 'refused', 'the replayed snapshot is refused, not shown');
    t.comment(await viewer.page.textContent('#notice'));
    t.equal(await viewer.page.getAttribute('#notice', 'data-code'), 'out_of_order', 'as a replay (out of order)');
    t.equal(viewer.page.workers().filter((w) => w.url().includes('decode.worker')).length, 1, 'by a new worker');
    t.ok(await viewer.inView((d) => d.getElementById('after')?.textContent === 'AFTERreplace17'), 'the view still has the later page');

    // The real stream goes on through the new worker.
    await visitor.evaluate(() => document.getElementById('c')!.insertAdjacentHTML('afterend', '<p id="after2">AFTERreplace29</p>'));
    await viewer.waitInView((d) => d.getElementById('after2')?.textContent === 'AFTERreplace29', 15_000, 'a change after the replacement');
    t.equal(await viewer.page.getAttribute('#e2e', 'data-e2e'), 'on', 'the header still says encrypted');
  });
}
