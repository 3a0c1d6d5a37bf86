/**
 * The embed's check of a customer-signed key token: a JWT (RS256 or ES256) signed by the key the
 * customer pinned in the snippet (`data-agent-key="ES256:<base64 SPKI>"`, served from the customer's
 * own page, so the relay cannot change it), with `aud` = E2E_KEY_TOKEN_AUDIENCE, `sub` = the agent
 * id the relay names, not expired, and `cnf.jkt` = the RFC 7638 thumbprint of the public key the
 * relay says is that agent's. A relay that substitutes a key fails the last check.
 */
import { E2E_KEY_TOKEN_AUDIENCE, fromB64url, jwkThumbprint } from '../../protocol/e2e.ts';

export interface PinnedKey { alg: 'RS256' | 'ES256'; key: CryptoKey }

const ALGS = {
  RS256: { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, verify: { name: 'RSASSA-PKCS1-v1_5' } },
  ES256: { import: { name: 'ECDSA', namedCurve: 'P-256' }, verify: { name: 'ECDSA', hash: 'SHA-256' } },
} as const;

/** `ES256:<base64 SPKI DER>` or the same with a PEM body; throws with a readable reason. */
export async function importPinnedKey(attr: string): Promise<PinnedKey> {
  const m = /^(RS256|ES256):([\s\S]+)$/.exec(attr.trim());
  if (!m) throw new Error('data-agent-key must be "RS256:<key>" or "ES256:<key>"');
  const alg = m[1] as PinnedKey['alg'];
  const b64 = m[2].replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey('spki', der, ALGS[alg].import, false, ['verify']);
  return { alg, key };
}

const dec = new TextDecoder();

/** Resolves with nothing when the token is good for this agent and key; otherwise throws the reason to show. */
export async function verifyKeyToken(pin: PinnedKey, token: string | undefined, agentId: string, agentKey: string, now = Date.now()): Promise<void> {
  if (!token) throw new Error('the agent presented no signed key token');
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('the key token is malformed');
  let header: { alg?: unknown };
  let claims: { aud?: unknown; sub?: unknown; exp?: unknown; cnf?: { jkt?: unknown } };
  try {
    header = JSON.parse(dec.decode(fromB64url(parts[0])));
    claims = JSON.parse(dec.decode(fromB64url(parts[1])));
  } catch {
    throw new Error('the key token is malformed');
  }
  if (header.alg !== pin.alg) throw new Error(`the key token is not signed with ${pin.alg}`);
  const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  const ok = await crypto.subtle.verify(ALGS[pin.alg].verify, pin.key, fromB64url(parts[2]), signed).catch(() => false);
  if (!ok) throw new Error('the key token is not signed by this site\'s key');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(E2E_KEY_TOKEN_AUDIENCE)) throw new Error('the key token is not for end-to-end keys');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= now) throw new Error('the key token has expired');
  if (claims.sub !== agentId) throw new Error('the key token names another agent');
  if (typeof claims.cnf?.jkt !== 'string' || claims.cnf.jkt !== (await jwkThumbprint(agentKey))) {
    throw new Error('the agent\'s key is not the one its token binds (the relay may have substituted it)');
  }
}
