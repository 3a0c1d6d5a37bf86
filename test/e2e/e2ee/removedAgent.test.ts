/**
 * An agent removed from a session cannot read what follows, even from a relay that keeps sending it
 * the frames: Bob (a scripted agent holding its own E2E keys, as a malicious viewer would) reads the
 * page while in the session, then leaves; the relay, patched to misbehave, subscribes his socket to
 * the tab again. The embed has moved to a new content key wrapped only for Alice: Bob keeps getting
 * frames and opens none of them, while Alice's view shows the change made after Bob left.
 */
import zlib from 'node:zlib';
import t from 'tap';
import {
  decodeE2eHeader, derivePairKey, makeAgreementPair, openFrame, unwrapContentKey,
} from '../../../protocol/e2e.ts';
import { FrameKind } from '../../../protocol/frames.ts';
import type { AgentToRelay } from '../../../protocol/control.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectAgent, type Msg } from '../../helpers/clients.ts';
import { CANARIES, startE2eRig } from '../../helpers/e2eRig.ts';
import { allowFromKeyboard, openViewer } from '../../helpers/viewerPage.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium)');
} else {
  t.test('an agent removed from the session cannot open frames sent after, though the relay keeps sending them', async (t) => {
    const rig = await startE2eRig();
    t.teardown(rig.close);
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    // The misbehaving relay: an agent that leaves stays subscribed to the tab it watched.
    const router = rig.relay.relay.ctx.router;
    const onAgent = router.onAgentMessage.bind(router);
    let resubscribed = 0;
    router.onAgentMessage = (agent, msg: AgentToRelay) => {
      const topic = agent.tab?.topic;
      onAgent(agent, msg);
      if (msg.t === 'leave' && topic) {
        agent.ws.subscribe(topic);
        resubscribed++;
      }
    };

    const visitor = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
    await visitor.goto(rig.siteUrl);
    const vid = await visitor.waitForFunction(() => (window as any).__events.find((e: any) => e.name === 'ready')?.detail.visitorId).then((h) => h.jsonValue() as Promise<string>);

    const alice = await openViewer(browser, rig.base, rig.relay.token(rig.relay.acme, 'alice', 'Alice'));
    await alice.waitState('idle');
    await alice.watch(vid, '');
    await allowFromKeyboard(visitor, 'Allow');
    await alice.waitState('live', 15_000);

    // Bob: his own key pair, and every content key wrapped for him.
    const me = await makeAgreementPair();
    const bob = await connectAgent(rig.relay.port, rig.relay.token(rig.relay.acme, 'bob', 'Bob'));
    t.teardown(() => bob.close());
    const keys = new Map<number, Promise<CryptoKey>>();
    const takeKey = (m: Msg) => {
      if (m.t !== 'e2e-key' || keys.has(m.keyId)) return;
      keys.set(m.keyId, derivePairKey(me.privateKey, m.embedKey, m.embedKey, me.publicKey, 'wrap').then((k) => unwrapContentKey(k, m as never, m.embedKey, me.publicKey)));
    };
    bob.send({ t: 'join', visitorId: vid, key: me.publicKey });
    await visitor.getByRole('alertdialog', { name: 'Bob wants to see this page' }).waitFor({ timeout: 10_000 });
    await allowFromKeyboard(visitor, 'Allow');
    await bob.next('joined', 10_000);
    await bob.next('e2e-key', 10_000);
    // Bob, in the session, reads the page (his full snapshot).
    const open = async (frame: Buffer): Promise<string | undefined> => {
      const h = decodeE2eHeader(frame);
      const key = keys.get(h.keyId);
      if (!key) return undefined;
      try {
        const { payload } = await openFrame(await key, frame);
        return (h.kind === FrameKind.FullSnapshotDeflate || h.kind === FrameKind.IncrementalDeflate ? zlib.inflateRawSync(payload) : Buffer.from(payload)).toString();
      } catch {
        return undefined;
      }
    };
    const readable = async (from: number) => {
      for (const m of bob.texts) takeKey(m);
      const out: string[] = [];
      for (const f of bob.frames.slice(from)) {
        const text = await open(f);
        if (text !== undefined) out.push(text);
      }
      return out;
    };
    await bob.until(() => bob.frames.some((f) => (f[0] & 0x7f) === FrameKind.FullSnapshotDeflate || (f[0] & 0x7f) === FrameKind.FullSnapshot), 10_000, 'Bob\'s snapshot');
    t.ok((await readable(0)).some((s) => s.includes(CANARIES[0])), 'in the session, Bob opens the frames and reads the page');

    // Bob leaves; the embed is told and moves to a new key; the relay keeps forwarding to Bob.
    const keysBefore = new Set(keys.keys());
    const textsBefore = bob.texts.length;
    bob.send({ t: 'leave' });
    await visitor.waitForFunction(() => /Bob ended the session/.test(document.querySelector('cobrowse-ui')?.shadowRoot?.querySelector('[data-cobrowse-notice]')?.textContent ?? ''), null, { timeout: 10_000 });
    t.equal(resubscribed, 1, 'the relay put Bob back on the tab\'s frames');
    const from = bob.frames.length;
    await visitor.evaluate((c) => document.getElementById('c')!.insertAdjacentHTML('afterend', `<p id="late">${c}</p>`), CANARIES[4]);
    await alice.waitInView((d) => d.getElementById('late')?.textContent === 'CANARYlate5c8e31', 10_000, 'the change in Alice\'s view');
    t.pass('Alice, still in the session, sees the change made after Bob left');
    await bob.until(() => bob.frames.length > from, 10_000, 'frames forwarded to Bob after he left');
    const after = bob.frames.slice(from);
    t.ok(after.length > 0, `the relay kept forwarding: Bob got ${after.length} frame(s) after leaving`);
    t.same(bob.texts.slice(textsBefore).filter((m) => m.t === 'e2e-key'), [], 'no key was sent for Bob after he left');
    t.same(await readable(from), [], 'Bob opens none of them');
    t.ok(after.every((f) => !keysBefore.has(decodeE2eHeader(f).keyId)), 'they are all under a key Bob never had');
  });
}
