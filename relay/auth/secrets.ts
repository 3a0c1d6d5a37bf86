/** Key generation and scrypt hashing of account secret keys. */
import crypto from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(crypto.scrypt) as (pw: string, salt: Buffer, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;
const PARAMS = { N: 16384, r: 8, p: 1 } as const;
const KEYLEN = 32;

export function randomId(prefix: string, bytes = 12): string {
  return `${prefix}_${crypto.randomBytes(bytes).toString('base64url')}`;
}

/** `scrypt$N$r$p$salt$hash`, all base64url. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scrypt(secret, salt, KEYLEN, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, N, r, p, saltB64, hashB64] = parts;
  const expected = Buffer.from(hashB64, 'base64url');
  // An empty (or truncated) stored hash would make any secret "match": fail closed.
  if (expected.length < 16) return false;
  let actual: Buffer;
  try {
    actual = await scrypt(secret, Buffer.from(saltB64, 'base64url'), expected.length, {
      N: Number(N), r: Number(r), p: Number(p),
    });
  } catch {
    return false; // malformed parameters in the stored hash
  }
  return crypto.timingSafeEqual(actual, expected);
}

/** Secret keys carry the account id so a REST call finds its account without a scan. */
export function makeSecretKey(accountId: string): string {
  return `sk_${accountId}.${crypto.randomBytes(24).toString('base64url')}`;
}

export function accountIdFromSecretKey(secretKey: string): string | null {
  const m = /^sk_(acc_[A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{16,128}$/.exec(secretKey);
  return m ? m[1] : null;
}
