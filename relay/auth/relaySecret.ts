/** The relay's own key: RELAY_SECRET, or one generated once and kept (0600) in DATA_DIR. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function loadRelaySecret(dataDir: string, fromEnv?: string): Buffer {
  if (fromEnv) {
    if (fromEnv.length < 32) throw new Error('RELAY_SECRET must be at least 32 characters');
    return Buffer.from(fromEnv, 'utf8');
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'relay-secret');
  try {
    return Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = crypto.randomBytes(32);
  fs.writeFileSync(file, secret.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
}
