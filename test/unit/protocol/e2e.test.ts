/** protocol/e2e.ts: the encrypted frame header, sealing, key wrapping, codes, thumbprints, and the key messages' schemas. */
import crypto from 'node:crypto';
import t from 'tap';
import {
  b64url, decodeE2eHeader, derivePairKey, E2E_HEADER_BYTES, E2E_SEALED_MAX_CHARS, encodeE2eHeader, jwkThumbprint, makeAgreementPair, makeContentKey,
  openAgentValue, openFrame, sealAgentValue, sealFrame, unwrapContentKey, verificationCode, wrapContentKey,
} from '../../../protocol/e2e.ts';
import { FrameKind, isFullSnapshotKind, isRelayedFrameKind } from '../../../protocol/frames.ts';
import { parseAgentMessage, parseVisitorMessage } from '../../../protocol/control.ts';
import { MAX_INPUT_VALUE_CHARS } from '../../../protocol/limits.ts';

const payload = new TextEncoder().encode('[{"type":2,"data":"page content"}]');

t.test('header: kind bit, version, key id, sequence; bound as associated data', async (t) => {
  const h = encodeE2eHeader({ kind: FrameKind.IncrementalDeflate, keyId: 0xfedcba98, seq: 2 ** 40 + 7 });
  t.equal(h.byteLength, E2E_HEADER_BYTES);
  t.equal(h[0], 0x84, 'byte 0 = 0x80 | kind');
  const padded = new Uint8Array(E2E_HEADER_BYTES + 16);
  padded.set(h);
  t.same(decodeE2eHeader(padded), { kind: FrameKind.IncrementalDeflate, keyId: 0xfedcba98, seq: 2 ** 40 + 7 });
  padded[1] = 2;
  t.throws(() => decodeE2eHeader(padded), /version/, 'another version is refused');
  t.throws(() => decodeE2eHeader(h), /too short/, 'a frame without a tag is refused');
  for (const k of [0x81, 0x82, 0x83, 0x84, 0x85, 1, 5]) t.ok(isRelayedFrameKind(k), `kind ${k} is relayed`);
  for (const k of [0x80, 0x86, 0xff, 0, 6, 127, -1]) t.notOk(isRelayedFrameKind(k), `kind ${k} is not`);
  t.ok(isFullSnapshotKind(0x83) && isFullSnapshotKind(0x81) && !isFullSnapshotKind(0x84), 'full snapshot, encrypted or not');

  const key = await makeContentKey();
  const frame = await sealFrame(key, { kind: FrameKind.FullSnapshotDeflate, keyId: 9, seq: 3 }, payload);
  t.equal(frame.byteLength, E2E_HEADER_BYTES + payload.byteLength + 16, 'header + ciphertext + 16-byte tag');
  t.notOk(Buffer.from(frame).includes(Buffer.from('page content')), 'no plaintext in the frame');
  const opened = await openFrame(key, frame);
  t.same(Buffer.from(opened.payload), Buffer.from(payload), 'opens to the payload');
  t.same(opened.header, { kind: FrameKind.FullSnapshotDeflate, keyId: 9, seq: 3 });
  for (const [at, what] of [[0, 'kind'], [5, 'key id'], [13, 'sequence'], [20, 'ciphertext']] as const) {
    const bad = frame.slice();
    bad[at] ^= at === 0 ? 0x01 : 0x40;
    await t.rejects(openFrame(key, bad), `a changed ${what} does not open`);
  }
  await t.rejects(openFrame(await makeContentKey(), frame), 'another key does not open it');
});

t.test('key wrapping: only the agent it was wrapped for unwraps it, under that key id', async (t) => {
  const embed = await makeAgreementPair();
  const agent = await makeAgreementPair();
  const other = await makeAgreementPair();
  const content = await makeContentKey();
  const w = await wrapContentKey(await derivePairKey(embed.privateKey, agent.publicKey, embed.publicKey, agent.publicKey, 'wrap'), content, 42, embed.publicKey, agent.publicKey);
  const mine = await derivePairKey(agent.privateKey, embed.publicKey, embed.publicKey, agent.publicKey, 'wrap');
  const unwrapped = await unwrapContentKey(mine, { keyId: 42, ...w }, embed.publicKey, agent.publicKey);
  t.equal(unwrapped.extractable, false, 'the viewer\'s copy is not extractable');
  const frame = await sealFrame(content, { kind: 2, keyId: 42, seq: 0 }, payload);
  t.same(Buffer.from((await openFrame(unwrapped, frame)).payload), Buffer.from(payload), 'and opens frames');
  await t.rejects(unwrapContentKey(mine, { keyId: 43, ...w }, embed.publicKey, agent.publicKey), 'not under another key id');
  const theirs = await derivePairKey(other.privateKey, embed.publicKey, embed.publicKey, other.publicKey, 'wrap');
  await t.rejects(unwrapContentKey(theirs, { keyId: 42, ...w }, embed.publicKey, other.publicKey), 'not by another agent');
  t.equal(embed.privateKey.extractable, false, 'private agreement keys are not extractable');
});

t.test('sealed typing: opens only for its node, carries its counter', async (t) => {
  const embed = await makeAgreementPair();
  const agent = await makeAgreementPair();
  const a = await derivePairKey(agent.privateKey, embed.publicKey, embed.publicKey, agent.publicKey, 'agent-input');
  const e = await derivePairKey(embed.privateKey, agent.publicKey, embed.publicKey, agent.publicKey, 'agent-input');
  const sealed = await sealAgentValue(a, 5, 17, 'typed secret');
  t.notMatch(Buffer.from(sealed, 'base64url').toString('latin1'), 'typed secret');
  t.same(await openAgentValue(e, 17, sealed), { n: 5, value: 'typed secret' });
  await t.rejects(openAgentValue(e, 18, sealed), 'not for another node');
  const wrapKey = await derivePairKey(embed.privateKey, agent.publicKey, embed.publicKey, agent.publicKey, 'wrap');
  await t.rejects(openAgentValue(wrapKey, 17, sealed), 'not under the pair\'s other key');
});

t.test('sealed typing: any 4,096-character value seals under the schema cap (cut to a prefix that fits)', async (t) => {
  const embed = await makeAgreementPair();
  const agent = await makeAgreementPair();
  const a = await derivePairKey(agent.privateKey, embed.publicKey, embed.publicKey, agent.publicKey, 'agent-input');
  const e = await derivePairKey(embed.privateKey, agent.publicKey, embed.publicKey, agent.publicKey, 'agent-input');
  const shapes: Record<string, string> = {
    ascii: 'a'.repeat(MAX_INPUT_VALUE_CHARS),
    cjk: '漢'.repeat(MAX_INPUT_VALUE_CHARS),
    emoji: '😀'.repeat(MAX_INPUT_VALUE_CHARS / 2),
    control: '\u0001'.repeat(MAX_INPUT_VALUE_CHARS),
    quotes: '"\\'.repeat(MAX_INPUT_VALUE_CHARS / 2),
    mixed: 'a漢😀\u0002"'.repeat(MAX_INPUT_VALUE_CHARS / 6),
  };
  for (const [name, value] of Object.entries(shapes)) {
    const sealed = await sealAgentValue(a, 1, 3, value);
    t.ok(sealed.length <= E2E_SEALED_MAX_CHARS, `${name}: ${sealed.length} characters sealed`);
    t.ok(parseAgentMessage(JSON.stringify({ t: 'input', nodeId: 3, value: '', sealed })).ok, `${name}: the relay's schema accepts it`);
    const opened = await openAgentValue(e, 3, sealed);
    t.ok(value.startsWith(opened.value) && opened.value.length > 0, `${name}: opens to a prefix of what was typed (${opened.value.length} characters)`);
    t.notOk(/[\ud800-\udbff]$/.test(opened.value), `${name}: not cut inside a surrogate pair`);
  }
  t.equal((await openAgentValue(e, 3, await sealAgentValue(a, 1, 3, shapes.ascii))).value, shapes.ascii, 'a value that fits is sealed whole');
});

t.test('verification code: same on both sides, different when a key differs', async (t) => {
  const e = await makeAgreementPair();
  const a = await makeAgreementPair();
  const x = await makeAgreementPair();
  const code = await verificationCode(e.publicKey, a.publicKey);
  t.match(code, /^\d{3} \d{3}$/);
  t.equal(await verificationCode(e.publicKey, a.publicKey), code, 'deterministic');
  t.not(await verificationCode(e.publicKey, x.publicKey), code, 'another agent key, another code');
});

t.test('thumbprint: RFC 7638 of the P-256 key', async (t) => {
  const pair = await makeAgreementPair();
  const raw = Buffer.from(pair.publicKey, 'base64url');
  const jwk = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64url(raw.subarray(1, 33)), y: b64url(raw.subarray(33)) }, format: 'jwk' }).export({ format: 'jwk' });
  const expected = crypto.createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');
  t.equal(await jwkThumbprint(pair.publicKey), expected);
  await t.rejects(jwkThumbprint(b64url(raw.subarray(0, 33))), 'a compressed or short key is refused');
});

t.test('key messages: typed and bounded', async (t) => {
  const k = (await makeAgreementPair()).publicKey;
  t.ok(parseAgentMessage(JSON.stringify({ t: 'join', visitorId: 'v1', key: k })).ok, 'join with a key');
  t.notOk(parseAgentMessage(JSON.stringify({ t: 'join', visitorId: 'v1', key: k.slice(1) })).ok, 'a key of the wrong length');
  t.notOk(parseAgentMessage(JSON.stringify({ t: 'join', visitorId: 'v1', key: k, keyToken: 'not a jwt' })).ok, 'a key token that is not a JWT');
  const msg = { t: 'e2e-key', agentId: 'a1', agentKey: k, embedKey: k, keyId: 7, iv: 'AAAAAAAAAAAAAAAA', wrapped: 'A'.repeat(64) };
  t.ok(parseVisitorMessage(JSON.stringify(msg)).ok, 'e2e-key');
  t.notOk(parseVisitorMessage(JSON.stringify({ ...msg, keyId: 2 ** 32 })).ok, 'key id over 32 bits');
  t.notOk(parseVisitorMessage(JSON.stringify({ ...msg, wrapped: 'A'.repeat(65) })).ok, 'an oversized wrapped key');
  t.notOk(parseVisitorMessage(JSON.stringify({ ...msg, extra: 1 })).ok, 'unknown fields');
  t.ok(parseAgentMessage(JSON.stringify({ t: 'input', nodeId: 3, value: '', sealed: 'abc_-' })).ok, 'sealed input');
  t.notOk(parseAgentMessage(JSON.stringify({ t: 'input', nodeId: 3, value: '', sealed: 'a'.repeat(7001) })).ok, 'an oversized sealed input');
  t.ok(parseVisitorMessage(JSON.stringify({ t: 'consent', agentId: 'a1', allow: false, reason: 'key_refused' })).ok, 'consent refused for the key');
  t.ok(parseVisitorMessage(JSON.stringify({ t: 'end', agentId: 'a1', reason: 'key_refused' })).ok, 'end for the key');
});
