/** Masking and keying of user ids for the activity log. */
import crypto from 'node:crypto';

const EMAIL = /^([^@\s]+)@([^@\s]+\.[^@\s]+)$/;

/** `john@example.com` -> `j***@example.com`; anything that does not look like an email is kept. */
export function maskUserId(userId: string): string {
  const m = EMAIL.exec(userId);
  return m ? `${m[1][0]}***@${m[2]}` : userId;
}

/** A keyed hash of the unmasked id, so an erasure request finds exactly that user's entries. */
export function userKey(secret: Buffer, accountId: string, userId: string): string {
  return crypto.createHmac('sha256', secret).update(`user\0${accountId}\0${userId}`).digest('base64url');
}
