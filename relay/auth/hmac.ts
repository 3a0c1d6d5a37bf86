/**
 * HMAC-SHA256 of a text under a relay secret, as base64url. The secret is imported once as a
 * KeyObject (cached per secret Buffer): `createHmac` with a raw Buffer re-imports it on every call,
 * and a visitor connect makes two or three of these.
 */
import crypto, { type KeyObject } from 'node:crypto';

const keys = new WeakMap<Buffer, KeyObject>();

export function hmacBase64url(secret: Buffer, text: string): string {
  let key = keys.get(secret);
  if (!key) keys.set(secret, (key = crypto.createSecretKey(secret)));
  return crypto.createHmac('sha256', key).update(text).digest('base64url');
}
