/** Visitor ids are issued by the relay and bound to the account by an HMAC token. */
import crypto from 'node:crypto';
import { hmacBase64url } from './hmac.ts';

/**
 * Ids are cut from a pool of CSPRNG bytes refilled 4 KiB at a time: a `randomBytes` call per id
 * cost more than anything else a new visitor's connect did in JS (two ids per new visitor).
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;

function randomId(bytes: number): string {
  if (used + bytes > pool.length) {
    pool = crypto.randomBytes(POOL_BYTES);
    used = 0;
  }
  const id = pool.toString('base64url', used, used + bytes);
  used += bytes;
  return id;
}

export function newVisitorId(): string {
  return randomId(12);
}

export function newTabId(): string {
  return randomId(6);
}

export function visitorToken(relaySecret: Buffer, accountId: string, visitorId: string): string {
  return hmacBase64url(relaySecret, `visitor\0${accountId}\0${visitorId}`);
}

export function verifyVisitorToken(relaySecret: Buffer, accountId: string, visitorId: string, token: string): boolean {
  const expected = Buffer.from(visitorToken(relaySecret, accountId, visitorId));
  const given = Buffer.from(token);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}
