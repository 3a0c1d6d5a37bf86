/**
 * Activity event ids: the idempotency key that lets a retried append (after a write that timed out
 * but landed anyway) keep one entry. 12 bytes in MongoDB ObjectId layout (seconds, random, counter)
 * as 24 hex characters, so the MongoDB store uses it as `_id` and its order stays creation order.
 */
import crypto from 'node:crypto';

const processRandom = crypto.randomBytes(5);
// Starts in the lower half: a burst never wraps it early (wrapping only upsets same-second order).
let counter = crypto.randomInt(0, 0x800000);

export function newEventId(now = Date.now()): string {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(Math.floor(now / 1000) >>> 0, 0);
  processRandom.copy(b, 4);
  counter = (counter + 1) & 0xffffff;
  b.writeUIntBE(counter, 9, 3);
  return b.toString('hex');
}

export const EVENT_ID_PATTERN = /^[0-9a-f]{24}$/;
