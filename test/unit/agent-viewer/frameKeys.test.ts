/** agent-viewer/e2e/frameKeys.ts: which encrypted frames the viewer opens, and in what order. */
import t from 'tap';
import { derivePairKey, makeAgreementPair, makeContentKey, sealFrame, wrapContentKey } from '../../../protocol/e2e.ts';
import { FrameKind } from '../../../protocol/frames.ts';
import { FrameKeys, keyTag, type ViewerIdentity } from '../../../agent-viewer/e2e/frameKeys.ts';

async function setup() {
  const embed = await makeAgreementPair();
  const me = await makeAgreementPair();
  const keys = new FrameKeys();
  keys.setIdentity(me);
  const pair = await derivePairKey(embed.privateKey, me.publicKey, embed.publicKey, me.publicKey, 'wrap');
  const give = async (keyId: number) => {
    const content = await makeContentKey();
    const w = { embedKey: embed.publicKey, keyId, ...(await wrapContentKey(pair, content, keyId, embed.publicKey, me.publicKey)) };
    keys.addKey(w);
    return { content, w };
  };
  const frame = (content: CryptoKey, keyId: number, seq: number, kind: number = FrameKind.Incremental) => sealFrame(content, { kind, keyId, seq }, new TextEncoder().encode(`[${seq}]`));
  return { keys, give, frame };
}

const code = (p: Promise<unknown>) => p.then(() => 'opened', (e) => e.code as string);

t.test('in order under one key; replayed, reordered or missing frames are refused', async (t) => {
  const { keys, give, frame } = await setup();
  const { content } = await give(1);
  t.ok(await keys.open(await frame(content, 1, 0, FrameKind.FullSnapshot)), 'the first frame');
  t.ok(await keys.open(await frame(content, 1, 1)), 'the next');
  const f2 = await frame(content, 1, 2);
  t.ok(await keys.open(f2));
  t.equal(await code(keys.open(f2)), 'out_of_order', 'the same frame again (replay)');
  t.equal(await code(keys.open(await frame(content, 1, 1))), 'out_of_order', 'an older one (reorder)');
  t.equal(await code(keys.open(await frame(content, 1, 5))), 'out_of_order', 'a gap');
  t.ok(await keys.open(await frame(content, 1, 9, FrameKind.FullSnapshotDeflate)), 'a full snapshot may follow a gap');
  t.ok(await keys.open(await frame(content, 1, 10)), 'and the stream goes on from it');
});

t.test('rotation: the new key takes over at 0; the old one is then forgotten', async (t) => {
  const { keys, give, frame } = await setup();
  const k1 = await give(1);
  t.ok(await keys.open(await frame(k1.content, 1, 0, FrameKind.FullSnapshot)));
  const late = await frame(k1.content, 1, 1);
  const k2 = await give(2);
  t.ok(await keys.open(late), 'a frame under the old key still opens before the switch');
  t.equal(await code(keys.open(await frame(k2.content, 2, 3))), 'out_of_order', 'the new key must start at 0');
  t.ok(await keys.open(await frame(k2.content, 2, 0)), 'the switch');
  t.equal(await code(keys.open(await frame(k1.content, 1, 2))), 'undecryptable', 'the old key is gone: its frames no longer open');
  keys.addKey(k1.w);
  t.equal(await code(keys.open(await frame(k1.content, 1, 0, FrameKind.FullSnapshot))), 'undecryptable', 'a replayed key message does not bring it back');
});

t.test('keys never given, altered frames, joining mid-stream', async (t) => {
  const { keys, give, frame } = await setup();
  const k = await give(7);
  t.equal(await keys.open(await frame(k.content, 7, 12)), undefined, 'mid-stream incremental before any snapshot: skipped quietly');
  const other = await makeContentKey();
  t.equal(await code(keys.open(await frame(other, 8, 0, FrameKind.FullSnapshot))), 'undecryptable', 'a key id never given');
  t.equal(await code(keys.open(await frame(other, 7, 0, FrameKind.FullSnapshot))), 'undecryptable', 'a frame sealed with another key under a known id');
  const f = await frame(k.content, 7, 0, FrameKind.FullSnapshot);
  f[f.length - 1] ^= 1;
  t.equal(await code(keys.open(f)), 'undecryptable', 'an altered tag');
  const opened = await keys.open(await frame(k.content, 7, 0, FrameKind.FullSnapshot));
  t.equal(opened?.kind, FrameKind.FullSnapshot, 'gives the plain kind');
  t.equal(new TextDecoder().decode(opened?.payload), '[0]', 'and the payload');
});

t.test('the embed key is pinned at the first key that opens a frame', async (t) => {
  const { keys, give, frame } = await setup();
  const k = await give(1);
  t.equal(keys.pinnedEmbedKey, undefined, 'nothing pinned before a frame opens');
  t.equal(keys.checkPlain(), undefined, 'plaintext is allowed before any encrypted frame');
  t.ok(await keys.open(await frame(k.content, 1, 0, FrameKind.FullSnapshot)));
  t.equal(keys.pinnedEmbedKey, k.w.embedKey, 'pinned to the embed key that opened it');
  t.throws(() => keys.checkPlain(), { code: 'downgrade' }, 'plaintext is then refused');

  // A relay's own embed key, wrapping its own content key under the key id in use and a new one.
  const relayEmbed = await makeAgreementPair();
  const me = (keys as unknown as { me: { publicKey: string } }).me;
  const pair = await derivePairKey(relayEmbed.privateKey, me.publicKey, relayEmbed.publicKey, me.publicKey, 'wrap');
  const forged = await makeContentKey();
  for (const keyId of [1, 2]) {
    const w = { embedKey: relayEmbed.publicKey, keyId, ...(await wrapContentKey(pair, forged, keyId, relayEmbed.publicKey, me.publicKey)) };
    t.equal(keys.addKey(w), 'refused', `a key from another embed key is refused (id ${keyId})`);
  }
  t.equal(await code(keys.open(await frame(forged, 1, 1))), 'undecryptable', 'a forged frame under the id in use does not open');
  t.equal(await code(keys.open(await frame(forged, 2, 0, FrameKind.FullSnapshot))), 'undecryptable', 'nor under a new id');
  t.ok(await keys.open(await frame(k.content, 1, 1)), 'the real stream goes on');
  t.equal(keys.pinnedEmbedKey, k.w.embedKey, 'still pinned to the real embed');

  // A new tab session (`joined`): the next embed key that opens frames is pinned instead.
  keys.unpin();
  t.equal(keys.checkPlain(), undefined, 'after unpin, nothing is pinned');
  const w3 = { embedKey: relayEmbed.publicKey, keyId: 3, ...(await wrapContentKey(pair, forged, 3, relayEmbed.publicKey, me.publicKey)) };
  t.equal(keys.addKey(w3), 'added', 'a key from another embed is taken in a new tab session');
  t.ok(await keys.open(await frame(forged, 3, 0, FrameKind.FullSnapshot)), 'and opens');
  t.equal(keys.pinnedEmbedKey, relayEmbed.publicKey, 'and is pinned');
  keys.reset();
  t.equal(keys.pinnedEmbedKey, undefined, 'reset unpins');
});

t.test('a key id in use is never replaced, even before a pin would refuse it', async (t) => {
  const { keys, give, frame } = await setup();
  const k = await give(5);
  t.ok(await keys.open(await frame(k.content, 5, 0, FrameKind.FullSnapshot)));
  keys.unpin(); // no pin: only the key-in-use rule stands
  const other = await makeAgreementPair();
  const me = (keys as unknown as { me: { publicKey: string } }).me;
  const pair = await derivePairKey(other.privateKey, me.publicKey, other.publicKey, me.publicKey, 'wrap');
  const forged = await makeContentKey();
  const w = { embedKey: other.publicKey, keyId: 5, ...(await wrapContentKey(pair, forged, 5, other.publicKey, me.publicKey)) };
  t.equal(keys.addKey(w), 'refused', 'another embed\'s key under the id in use is refused');
  t.equal(await code(keys.open(await frame(forged, 5, 1))), 'undecryptable', 'its frames do not open');
  t.ok(await keys.open(await frame(k.content, 5, 1)), 'the real ones do');
});

t.test('a replacement worker restored from the reports keeps the replay rules (restore)', async (t) => {
  const { keys: old, give, frame } = await setup();
  const me = (old as unknown as { me: ViewerIdentity }).me;
  const k1 = await give(1);
  t.ok(await old.open(await frame(k1.content, 1, 0, FrameKind.FullSnapshot)));
  const oldSnapshot = await frame(k1.content, 1, 4, FrameKind.FullSnapshot);
  t.ok(await old.open(await frame(k1.content, 1, 1)));
  const k2 = await give(2);
  const k2first = await frame(k2.content, 2, 0, FrameKind.FullSnapshot);
  t.ok(await old.open(k2first), 'switched to key 2');
  const k2second = await frame(k2.content, 2, 1);
  t.ok(await old.open(k2second));
  t.same(old.position, { pinned: k1.w.embedKey, cur: { keyId: 2, lastSeq: 1 } }, 'the position the worker reports');

  // What the old code gave a replacement: the identity and the kept keys, nothing else.
  const bare = new FrameKeys();
  bare.setIdentity(me);
  bare.addKey(k1.w);
  bare.addKey(k2.w);
  t.ok(await bare.open(k2first), 'a bare replacement would open an old frame again (the hazard)');

  const next = new FrameKeys();
  next.setIdentity(me);
  const replayedKey = k1.w; // the relay sends an old key message again, in flight at the replacement
  next.restore({ ...old.position, seen: [keyTag(k1.w), keyTag(k2.w)], taken: [k1.w, k2.w], pending: [replayedKey] });
  t.equal(await code(next.open(k2first)), 'out_of_order', 'the restored worker refuses a frame already shown');
  t.equal(await code(next.open(k2second)), 'out_of_order', 'and the last one');
  t.equal(await code(next.open(await oldSnapshot)), 'undecryptable', 'the key before the switch stays forgotten (its replayed key message is ignored)');
  t.equal(next.pinnedEmbedKey, k1.w.embedKey, 'the pin is carried over');
  t.throws(() => next.checkPlain(), { code: 'downgrade' }, 'so plaintext is still refused');
  const relayEmbed = await makeAgreementPair();
  const pair = await derivePairKey(relayEmbed.privateKey, me.publicKey, relayEmbed.publicKey, me.publicKey, 'wrap');
  const forged = { embedKey: relayEmbed.publicKey, keyId: 3, ...(await wrapContentKey(pair, await makeContentKey(), 3, relayEmbed.publicKey, me.publicKey)) };
  t.equal(next.addKey(forged), 'refused', 'another embed key is still refused');
  t.ok(await next.open(await frame(k2.content, 2, 2)), 'the live stream goes on from where it was');
});
