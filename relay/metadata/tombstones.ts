/**
 * Keyed hashes for erasure. A tombstone keeps the HMAC of (account, visitor id), never the id
 * itself (it is an identifier). An erased visitor's activity entries keep a short pseudonym from a
 * different HMAC, so entries of one erased visitor still read as one, and neither the tombstone nor
 * the pseudonym gives the id back.
 */
import crypto from 'node:crypto';
import { hmacBase64url } from '../auth/hmac.ts';

export function tombstoneKey(secret: Buffer, accountId: string, visitorId: string): string {
  return hmacBase64url(secret, `tombstone\0${accountId}\0${visitorId}`);
}

/** `erased-` + 16 characters (96 bits) of an HMAC: irreversible without the relay secret and the id. */
export function erasedPseudonym(secret: Buffer, accountId: string, visitorId: string): string {
  return `erased-${crypto.createHmac('sha256', secret).update(`erased\0${accountId}\0${visitorId}`).digest('base64url').slice(0, 16)}`;
}
