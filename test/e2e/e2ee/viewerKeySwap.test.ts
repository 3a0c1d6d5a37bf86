/**
 * The viewer's side of end-to-end encryption against a relay turned hostile mid-session (review
 * findings 3 and 8): after the real page is shown encrypted, the relay
 * - injects an `e2e-key` with an embed key of its own (wrapping a content key of its own under the
 *   key id in use and the next one): the viewer keeps the real page, raises a visible alarm, and
 *   what the agent types is still sealed for the real embed only (the relay cannot open it);
 * - injects a plaintext full snapshot of a forged page: it is refused (visible notice), not shown.
 */
import t from 'tap';
import { b64url, derivePairKey, makeAgreementPair, openAgentValue, type E2eKeyMsg } from '../../../protocol/index.ts';
import { FrameKind } from '../../../protocol/frames.ts';
import type { AgentToRelay, VisitorToRelay } from '../../../protocol/control.ts';
import type { TabData } from '../../../relay/sessions/types.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { startE2eRig, watchRigPage } from '../../helpers/e2eRig.ts';
import { allowFromKeyboard } from '../../helpers/viewerPage.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium)');
} else {
  t.test('a key and a plaintext frame injected mid-session are refused, visibly', async (t) => {
    const rig = await startE2eRig();
    t.teardown(rig.close);
    const router = rig.relay.relay.ctx.router;
    // The relay's taps: the embed's key messages (and its tab), the agent's sealed input.
    const realKeys: { tab: TabData; msg: E2eKeyMsg }[] = [];
    const inputs: { nodeId: number; sealed: string }[] = [];
    const onVisitor = router.onVisitorMessage.bind(router);
    const onAgent = router.onAgentMessage.bind(router);
    router.onVisitorMessage = (tab, msg: VisitorToRelay) => {
      if (msg.t === 'e2e-key') realKeys.push({ tab, msg });
      return onVisitor(tab, msg);
    };
    router.onAgentMessage = (agent, msg: AgentToRelay) => {
      if (msg.t === 'input' && msg.sealed) inputs.push({ nodeId: msg.nodeId, sealed: msg.sealed });
      return onAgent(agent, msg);
    };

    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const { viewer, visitor } = await watchRigPage(browser, rig);
    await viewer.page.waitForFunction(() => /verification code/.test(document.getElementById('e2e')!.textContent!), null, { timeout: 10_000 });
    const codeBefore = /verification code (\d{3} \d{3})/.exec((await viewer.page.textContent('#e2e'))!)?.[1];
    t.ok(codeBefore, `the viewer shows a code (${codeBefore})`);
    t.ok(realKeys.length > 0, 'the relay saw the embed\'s key message');

    // 1. The relay's own embed key, wrapping its own content key for the real viewer.
    const { tab, msg: real } = realKeys[realKeys.length - 1];
    const fakeEmbed = await makeAgreementPair();
    const subtle = globalThis.crypto.subtle;
    const forgedRaw = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const wrapFor = async (keyId: number): Promise<E2eKeyMsg> => {
      const pair = await derivePairKey(fakeEmbed.privateKey, real.agentKey, fakeEmbed.publicKey, real.agentKey, 'wrap');
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
      const aad = new TextEncoder().encode(`content-key ${keyId >>> 0} ${fakeEmbed.publicKey} ${real.agentKey}`);
      const wrapped = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, pair, forgedRaw));
      return { ...real, keyId, embedKey: fakeEmbed.publicKey, iv: b64url(iv), wrapped: b64url(wrapped) };
    };
    onVisitor(tab, await wrapFor(real.keyId));
    onVisitor(tab, await wrapFor((real.keyId + 1) >>> 0));
    await viewer.page.waitForFunction(() => document.getElementById('e2e')?.dataset.alarm === 'key-changed', null, { timeout: 10_000 });
    t.match(await viewer.page.textContent('#e2e'), /WARNING: .*refused/, 'the header carries a visible warning');
    t.equal(await viewer.page.getAttribute('#notice', 'data-code'), 'e2e_key_changed', 'and a notice says so');
    t.ok(await viewer.page.isVisible('#notice'), 'the notice is visible');
    t.equal(/verification code (\d{3} \d{3})/.exec((await viewer.page.textContent('#e2e'))!)?.[1], codeBefore, 'the code did not change to the relay\'s');

    // The real page goes on: a change on it still reaches the view.
    await visitor.evaluate(() => document.getElementById('c')!.insertAdjacentHTML('afterend', '<p id="after">AFTERswap31</p>'));
    await viewer.waitInView((d) => d.getElementById('after')?.textContent === 'AFTERswap31', 10_000, 'a change after the injected key');
    t.pass('the viewer keeps showing the real page');

    // Typing: sealed for the real embed (it arrives), never for the relay's key.
    // The alarm notice sits over the top of the view, where the field is: put it away first.
    await viewer.page.evaluate(() => (document.getElementById('notice')!.hidden = true));
    await viewer.page.click('#tool-control');
    await allowFromKeyboard(visitor, 'Allow control');
    await viewer.page.waitForFunction(() => document.getElementById('tool-control')?.dataset.granted === 'true', null, { timeout: 5000 });
    // Hiding the notice reflows the view (the player rescales): openTyping clicks once the field stays put.
    for (const miss of await viewer.openTyping('#field')) t.comment(`a click missed the field: ${miss}`);
    await viewer.page.locator('#type-text').pressSequentially('AGENTsecret42');
    await visitor.waitForFunction(() => (document.getElementById('field') as HTMLInputElement).value === 'AGENTsecret42', null, { timeout: 5000 });
    t.pass('the typing reached the real page (sealed for its embed key)');
    t.ok(inputs.length > 0, `the relay saw ${inputs.length} sealed input messages`);
    const relayInput = await derivePairKey(fakeEmbed.privateKey, real.agentKey, fakeEmbed.publicKey, real.agentKey, 'agent-input');
    let opened = 0;
    for (const i of inputs) await openAgentValue(relayInput, i.nodeId, i.sealed).then(() => opened++, () => {});
    t.equal(opened, 0, 'none of it opens with the relay\'s injected key');

    // 2. A plaintext full snapshot of a forged page, published to the tab's watchers.
    const badBefore = Number(await viewer.page.getAttribute('#stage', 'data-frames-bad') ?? 0);
    const now = Date.now();
    const events = [
      { type: 4, data: { href: rig.siteUrl, width: 900, height: 700 }, timestamp: now },
      { type: 2, data: { node: { type: 0, id: 1, childNodes: [{ type: 2, id: 2, tagName: 'html', attributes: {}, childNodes: [{ type: 2, id: 3, tagName: 'body', attributes: {}, childNodes: [{ type: 2, id: 4, tagName: 'h1', attributes: { id: 'h' }, childNodes: [{ type: 3, id: 5, textContent: 'FORGEDplain66' }] }] }] }] }, initialOffset: { top: 0, left: 0 } }, timestamp: now },
    ];
    const json = Buffer.from(JSON.stringify(events));
    router.publisher.publish(tab, Buffer.concat([Buffer.from([FrameKind.FullSnapshot]), json]), true);
    await viewer.page.waitForFunction((n) => Number(document.getElementById('stage')!.dataset.framesBad ?? 0) > n, badBefore, { timeout: 10_000 });
    t.equal(await viewer.page.getAttribute('#notice', 'data-code'), 'downgrade', 'the plaintext frame is refused with a visible notice');
    t.match(await viewer.page.textContent('#notice'), /not end-to-end encrypted .*refused/, 'saying why');
    // The resync brings the real page back (a fresh encrypted snapshot); the forged one never shows.
    await visitor.evaluate(() => document.getElementById('c')!.insertAdjacentHTML('afterend', '<p id="after2">AFTERplain88</p>'));
    await viewer.waitInView((d) => d.getElementById('after2')?.textContent === 'AFTERplain88', 15_000, 'the real page after the plaintext frame');
    t.notOk(await viewer.inView((d) => d.body?.textContent?.includes('FORGEDplain66') ?? false), 'the forged page is not in the view');
    t.equal(await viewer.page.getAttribute('#e2e', 'data-e2e'), 'on', 'the header still says encrypted (never flipped to plaintext)');
  });
}
