/**
 * HMAC-SHA256 of a text under a relay secret, as base64url. A visitor connect makes two (visitor
 * token, tombstone key), and `createHmac` was the largest JS item of a connect (its setup per call:
 * a stream object and OpenSSL's HMAC context). So it is computed as RFC 2104 defines it,
 * H((K ^ opad) || H((K ^ ipad) || text)), with two one-shot `crypto.hash` calls over buffers whose
 * key blocks are prepared once per secret. The result is the same bytes (test/unit/relay/auth/hmac.test.ts
 * checks it against `createHmac` and RFC 4231's vectors); `createHmac` still does it on a Node 20
 * without `crypto.hash` (before 20.12) and for a long text.
 */
import crypto, { type KeyObject } from 'node:crypto';

/** SHA-256's block size: the key is padded (or first hashed) to this. */
const BLOCK = 64;
const DIGEST = 32;
/** Room for the text after the inner key block; a text that might not fit (3 UTF-8 bytes a UTF-16 unit at most) goes to createHmac. */
const TEXT_BYTES = 1024;
const MAX_FAST_CHARS = Math.floor(TEXT_BYTES / 3);
const oneShot = typeof crypto.hash === 'function';

interface Pads {
  /** K ^ ipad, then room for the text. */
  inner: Buffer;
  /** K ^ opad, then room for the inner digest. */
  outer: Buffer;
  key: KeyObject;
}

const pads = new WeakMap<Buffer, Pads>();

function padsOf(secret: Buffer): Pads {
  let p = pads.get(secret);
  if (p) return p;
  const k = secret.length > BLOCK ? crypto.createHash('sha256').update(secret).digest() : secret;
  const inner = Buffer.alloc(BLOCK + TEXT_BYTES, 0x36);
  const outer = Buffer.alloc(BLOCK + DIGEST, 0x5c);
  for (let i = 0; i < k.length; i++) {
    inner[i] ^= k[i];
    outer[i] ^= k[i];
  }
  p = { inner, outer, key: crypto.createSecretKey(secret) };
  pads.set(secret, p);
  return p;
}

export function hmacBase64url(secret: Buffer, text: string): string {
  const p = padsOf(secret);
  if (!oneShot || text.length > MAX_FAST_CHARS) return crypto.createHmac('sha256', p.key).update(text).digest('base64url');
  const n = p.inner.write(text, BLOCK, 'utf8');
  crypto.hash('sha256', p.inner.subarray(0, BLOCK + n), 'buffer').copy(p.outer, BLOCK);
  return crypto.hash('sha256', p.outer, 'base64url');
}
