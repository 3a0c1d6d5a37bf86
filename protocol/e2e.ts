/**
 * End-to-end encryption of page content between the visitor's embed and the viewers of agents the
 * visitor consented to (docs/security.md, "End-to-end encryption"). Shared by both ends; WebCrypto
 * only (the browser's, or Node's `globalThis.crypto` in tests), no dependency.
 *
 * Encrypted frame (binary): byte 0 = ENCRYPTED_KIND_BIT | the plain kind (protocol/frames.ts), so the
 * relay still reads one byte and forwards verbatim; then the clear header
 *   byte 1       version (E2E_VERSION)
 *   bytes 2..5   key id, uint32 big-endian (which content key)
 *   bytes 6..13  sequence number, uint64 big-endian (per key, from 0, +1 per frame)
 * then AES-256-GCM ciphertext + 16-byte tag of the plain payload (already compressed). The 14 header
 * bytes are the associated data; the 96-bit nonce is 4 zero bytes + the sequence number, unique per
 * key because the sequence never repeats under one key (a new key starts again at 0).
 */
import { ENCRYPTED_KIND_BIT } from './frames.ts';

export const E2E_VERSION = 1;
export const E2E_HEADER_BYTES = 14;
export const E2E_TAG_BYTES = 16;
/** A new content key at least this often while sharing (and whenever an agent leaves or is refused). */
export const E2E_ROTATE_MS = 10 * 60_000;
/** An uncompressed P-256 public key (65 bytes) in base64url. */
export const E2E_PUBLIC_KEY_CHARS = 87;
/** `aud` of the customer-signed key token that binds an agent's public key (see docs/security.md). */
export const E2E_KEY_TOKEN_AUDIENCE = 'cobrowse-e2e-key';
export const E2E_KEY_TOKEN_MAX_CHARS = 4096;
/** Largest sealed `input` value (base64url) the schema accepts: well inside the 8 KiB control message cap. */
export const E2E_SEALED_MAX_CHARS = 7000;
/**
 * Largest sealed plaintext (`{"n":…,"v":…}` in UTF-8). Sealed (12-byte IV + 16-byte tag, base64url)
 * it is at most 6,704 characters, under E2E_SEALED_MAX_CHARS. A typed value whose encoding is larger
 * (4,096 characters can take 24 KiB: JSON writes a control character as six bytes, UTF-8 a CJK one as
 * three) is cut to the longest prefix that fits, never inside a surrogate pair.
 */
export const E2E_SEALED_PLAINTEXT_MAX_BYTES = 5000;

/** Account setting: `required` = the embed shares only with agents whose viewer takes part in E2E. */
export type E2eMode = 'required' | 'off';

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;
const enc = new TextEncoder();

// ------------------------------------------------------------------ header

export interface E2eHeader { kind: number; keyId: number; seq: number }

export function isEncryptedKind(kind: number): boolean {
  return (kind & ENCRYPTED_KIND_BIT) !== 0;
}

export function encodeE2eHeader(h: E2eHeader): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(E2E_HEADER_BYTES);
  const dv = new DataView(out.buffer);
  out[0] = h.kind | ENCRYPTED_KIND_BIT;
  out[1] = E2E_VERSION;
  dv.setUint32(2, h.keyId >>> 0);
  dv.setUint32(6, Math.floor(h.seq / 2 ** 32));
  dv.setUint32(10, h.seq >>> 0);
  return out;
}

/** `kind` is the plain kind (bit cleared). Throws on a short frame or another version. */
export function decodeE2eHeader(frame: Uint8Array): E2eHeader {
  if (frame.byteLength < E2E_HEADER_BYTES + E2E_TAG_BYTES) throw new Error('encrypted frame too short');
  if (!isEncryptedKind(frame[0])) throw new Error('not an encrypted frame');
  if (frame[1] !== E2E_VERSION) throw new Error(`unknown encryption version ${frame[1]}`);
  const dv = new DataView(frame.buffer, frame.byteOffset, E2E_HEADER_BYTES);
  return { kind: frame[0] & ~ENCRYPTED_KIND_BIT, keyId: dv.getUint32(2), seq: dv.getUint32(6) * 2 ** 32 + dv.getUint32(10) };
}

function nonce(seq: number): Uint8Array<ArrayBuffer> {
  const iv = new Uint8Array(12);
  const dv = new DataView(iv.buffer);
  dv.setUint32(4, Math.floor(seq / 2 ** 32));
  dv.setUint32(8, seq >>> 0);
  return iv;
}

/** Encrypts one frame's payload (after compression) under a content key. */
export async function sealFrame(key: CryptoKey, h: E2eHeader, payload: Uint8Array): Promise<Uint8Array> {
  const header = encodeE2eHeader(h);
  const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: nonce(h.seq), additionalData: header }, key, payload as Uint8Array<ArrayBuffer>));
  const out = new Uint8Array(E2E_HEADER_BYTES + ct.byteLength);
  out.set(header);
  out.set(ct, E2E_HEADER_BYTES);
  return out;
}

/** Decrypts a frame sealed by sealFrame; throws if the key is wrong or any byte (header included) was changed. */
export async function openFrame(key: CryptoKey, frame: Uint8Array): Promise<{ header: E2eHeader; payload: Uint8Array }> {
  const header = decodeE2eHeader(frame);
  const pt = await subtle().decrypt(
    { name: 'AES-GCM', iv: nonce(header.seq), additionalData: frame.slice(0, E2E_HEADER_BYTES) },
    key,
    frame.slice(E2E_HEADER_BYTES),
  );
  return { header, payload: new Uint8Array(pt) };
}

// ------------------------------------------------------------------ keys

export function b64url(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromB64url(s: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** An ECDH P-256 pair whose private half cannot be exported; `publicKey` as base64url raw point. */
export async function makeAgreementPair(): Promise<{ privateKey: CryptoKey; publicKey: string }> {
  const pair = (await subtle().generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: b64url(new Uint8Array(await subtle().exportKey('raw', pair.publicKey))) };
}

export async function importPublicKey(b64: string): Promise<CryptoKey> {
  const raw = fromB64url(b64);
  if (raw.byteLength !== 65 || raw[0] !== 4) throw new Error('not an uncompressed P-256 public key');
  return subtle().importKey('raw', raw, { name: 'ECDH', namedCurve: 'P-256' }, true, []);
}

export type PairPurpose = 'wrap' | 'agent-input';

/**
 * The key one embed and one agent viewer share: ECDH of the two P-256 keys, then HKDF-SHA-256 with
 * both public keys (embed's first) in the info, one key per purpose. Non-extractable.
 */
export async function derivePairKey(privateKey: CryptoKey, peerPublic: string, embedPublic: string, agentPublic: string, purpose: PairPurpose): Promise<CryptoKey> {
  const bits = await subtle().deriveBits({ name: 'ECDH', public: await importPublicKey(peerPublic) }, privateKey, 256);
  const ikm = await subtle().importKey('raw', bits, 'HKDF', false, ['deriveKey']);
  return subtle().deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info: enc.encode(`cobrowse-e2e-v1 ${purpose} ${embedPublic} ${agentPublic}`) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** A fresh content key (AES-256-GCM). Extractable: the embed must wrap it for each agent. */
export function makeContentKey(): Promise<CryptoKey> {
  return subtle().generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']) as Promise<CryptoKey>;
}

function keyIdAad(keyId: number, embedPublic: string, agentPublic: string): Uint8Array<ArrayBuffer> {
  return enc.encode(`content-key ${keyId >>> 0} ${embedPublic} ${agentPublic}`);
}

/** The content key wrapped for one agent: AES-GCM under the pair key, the key id and both public keys bound as AAD. */
export async function wrapContentKey(pairKey: CryptoKey, contentKey: CryptoKey, keyId: number, embedPublic: string, agentPublic: string): Promise<{ iv: string; wrapped: string }> {
  const raw = new Uint8Array(await subtle().exportKey('raw', contentKey));
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: keyIdAad(keyId, embedPublic, agentPublic) }, pairKey, raw));
  raw.fill(0);
  return { iv: b64url(iv), wrapped: b64url(ct) };
}

/** The viewer's side: a non-extractable content key, or a throw if it was not wrapped for us under this key id. */
export async function unwrapContentKey(pairKey: CryptoKey, m: { keyId: number; iv: string; wrapped: string }, embedPublic: string, agentPublic: string): Promise<CryptoKey> {
  const raw = await subtle().decrypt({ name: 'AES-GCM', iv: fromB64url(m.iv), additionalData: keyIdAad(m.keyId, embedPublic, agentPublic) }, pairKey, fromB64url(m.wrapped));
  return subtle().importKey('raw', raw, { name: 'AES-GCM' }, false, ['decrypt']);
}

// ------------------------------------------------------------------ agent -> visitor content

/** Seals a value the agent types for the visitor's page under the pair's `agent-input` key; `n` counts up per pair (replay guard). */
function sealedInputPlaintext(n: number, value: string): Uint8Array<ArrayBuffer> {
  let v = value;
  for (;;) {
    const bytes = enc.encode(JSON.stringify({ n, v }));
    if (bytes.byteLength <= E2E_SEALED_PLAINTEXT_MAX_BYTES) return bytes;
    // Shrink in proportion (converges in a few rounds), then step back off a high surrogate.
    let cut = Math.min(v.length - 1, Math.floor((v.length * E2E_SEALED_PLAINTEXT_MAX_BYTES) / bytes.byteLength));
    const c = v.charCodeAt(cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut--;
    v = v.slice(0, Math.max(0, cut));
  }
}

export async function sealAgentValue(key: CryptoKey, n: number, nodeId: number, value: string): Promise<string> {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(`input ${nodeId}`) }, key, sealedInputPlaintext(n, value)));
  const out = new Uint8Array(12 + ct.byteLength);
  out.set(iv);
  out.set(ct, 12);
  return b64url(out);
}

export async function openAgentValue(key: CryptoKey, nodeId: number, sealed: string): Promise<{ n: number; value: string }> {
  const bytes = fromB64url(sealed);
  if (bytes.byteLength < 12 + E2E_TAG_BYTES) throw new Error('sealed value too short');
  const pt = await subtle().decrypt({ name: 'AES-GCM', iv: bytes.slice(0, 12), additionalData: enc.encode(`input ${nodeId}`) }, key, bytes.slice(12));
  const o = JSON.parse(new TextDecoder().decode(pt)) as { n?: unknown; v?: unknown };
  if (typeof o.n !== 'number' || !Number.isSafeInteger(o.n) || typeof o.v !== 'string') throw new Error('sealed value malformed');
  return { n: o.n, value: o.v };
}

// ------------------------------------------------------------------ verification code

/** PBKDF2 rounds of the verification code: makes grinding keys for a matching code slow (docs/security.md). */
export const E2E_CODE_ROUNDS = 200_000;

/**
 * The short code both sides show (consent prompt, viewer): from both public keys as each side sees
 * them. A relay that swapped a key makes the two codes differ. Six digits, "123 456".
 */
export async function verificationCode(embedPublic: string, agentPublic: string): Promise<string> {
  const base = await subtle().importKey('raw', enc.encode(`${embedPublic}.${agentPublic}`), 'PBKDF2', false, ['deriveBits']);
  const bits = new DataView(await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: enc.encode('cobrowse-e2e-code-v1'), iterations: E2E_CODE_ROUNDS }, base, 64));
  const n = (bits.getUint32(0) * 2 ** 32 + bits.getUint32(4)) % 1_000_000;
  const s = String(n).padStart(6, '0');
  return `${s.slice(0, 3)} ${s.slice(3)}`;
}

/** RFC 7638 thumbprint of a P-256 public key (base64url raw point), as carried in `cnf.jkt` (RFC 7800). */
export async function jwkThumbprint(publicKey: string): Promise<string> {
  const raw = fromB64url(publicKey);
  if (raw.byteLength !== 65 || raw[0] !== 4) throw new Error('not an uncompressed P-256 public key');
  const json = `{"crv":"P-256","kty":"EC","x":"${b64url(raw.subarray(1, 33))}","y":"${b64url(raw.subarray(33, 65))}"}`;
  return b64url(new Uint8Array(await subtle().digest('SHA-256', enc.encode(json))));
}
