/** Visitor ids are issued by the relay and bound to the account by an HMAC token. */
import crypto from 'node:crypto';

export function newVisitorId(): string {
  return crypto.randomBytes(12).toString('base64url');
}

export function newTabId(): string {
  return crypto.randomBytes(6).toString('base64url');
}

export function visitorToken(relaySecret: Buffer, accountId: string, visitorId: string): string {
  return crypto.createHmac('sha256', relaySecret).update(`visitor\0${accountId}\0${visitorId}`).digest('base64url');
}

export function verifyVisitorToken(relaySecret: Buffer, accountId: string, visitorId: string, token: string): boolean {
  const expected = Buffer.from(visitorToken(relaySecret, accountId, visitorId));
  const given = Buffer.from(token);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}
