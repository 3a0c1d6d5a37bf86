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

/** Characters of the creation second in base36: 7 reach the year 4453. */
const TIME_CHARS = 7;
const idScratch = Buffer.alloc(TIME_CHARS + 16);
let idSecond = -1;

/**
 * A visitor id: its creation second (7 base36 characters, so ids sort by time as plain bytes) and 12
 * random bytes (16 base64url characters; the random part alone is what makes an id unguessable).
 *
 * Why the time: every new visitor is a new row in the store, and with purely random ids each row
 * landed on a random page of the store's primary-key index, so a batch of new visitors rewrote most
 * of that index, and more of it the bigger the table (`npm run bench:store`, bench/RESULTS.md). A
 * MongoDB B-tree index has the same access pattern (not measured here). The creation second is
 * already in the store as `firstSeen`; the id now says it too, to whoever holds the id.
 */
export function newVisitorId(): string {
  return visitorIdAt(Date.now());
}

/** `newVisitorId` as issued at `nowMs` (the store bench simulates time passing with it). */
export function visitorIdAt(nowMs: number): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== idSecond) {
    idSecond = second;
    idScratch.write(second.toString(36).padStart(TIME_CHARS, '0'), 0, 'latin1');
  }
  // Put together in one scratch buffer and read out once: a flat string, not `prefix + random` (a
  // concatenation V8 keeps as a two-part string, bigger, for as long as the visitor is held).
  idScratch.write(randomId(12), TIME_CHARS, 'latin1');
  return idScratch.toString('latin1');
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
