/**
 * Agent JWTs. Two issuers, each with its algorithm pinned:
 *  - the relay itself (`iss: "cobrowse-relay"`, HS256 with a key derived from the relay secret);
 *  - a customer's backend (`iss: <accountId>`, RS256 or ES256 with the public key registered on the account).
 * `exp` is required, the audience is checked, and `none` is never accepted. No token may live
 * longer than MAX_AGENT_TOKEN_LIFETIME_SEC: a leaked customer-signed token with a far `exp`
 * would otherwise be good for years.
 * Relay tokens minted with an account's secret key (`POST /api/v1/agent-tokens`, the demo link)
 * carry `skg`, a digest of the secret's stored hash: rotating the secret revokes them.
 */
import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AGENT_AUDIENCE, ID_PATTERN, RELAY_ISSUER } from '../../protocol/index.ts';
import type { AccountRecord } from '../store/types.ts';

/** The longest an agent token may be valid for, from `iat` (or from now when it has none). */
export const MAX_AGENT_TOKEN_LIFETIME_SEC = 7 * 24 * 3600;
/** Clock skew allowed between the customer's backend and the relay. */
const CLOCK_SKEW_SEC = 60;

export interface AgentClaims {
  agentId: string;
  name: string;
  accountId: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** The secret key generation it was minted under (relay tokens minted with a secret key only). */
  secretGeneration?: string;
}

export type VerifyResult = { ok: true; claims: AgentClaims } | { ok: false; code: 'invalid_token' | 'token_expired'; message: string };

export function relayJwtKey(relaySecret: Buffer): Buffer {
  return crypto.createHmac('sha256', relaySecret).update('agent-jwt-hs256').digest();
}

/** Names the account's current secret key without revealing anything of it (a digest of its scrypt hash). */
export function secretGeneration(secretHash: string): string {
  return crypto.createHash('sha256').update(`agent-token-generation\0${secretHash}`).digest('base64url').slice(0, 22);
}

export interface MintOptions {
  accountId: string;
  agentId: string;
  name: string;
  ttlSec: number;
  /** `secretGeneration` of the secret key the request was authenticated with; omitted only for operator-minted tokens. */
  secretGeneration?: string;
}

export function mintAgentToken(relaySecret: Buffer, c: MintOptions): string {
  const claims = c.secretGeneration === undefined ? { acc: c.accountId, name: c.name } : { acc: c.accountId, name: c.name, skg: c.secretGeneration };
  return jwt.sign(claims, relayJwtKey(relaySecret), {
    algorithm: 'HS256',
    subject: c.agentId,
    issuer: RELAY_ISSUER,
    audience: AGENT_AUDIENCE,
    expiresIn: c.ttlSec,
  });
}

const invalid = (message: string): VerifyResult => ({ ok: false, code: 'invalid_token', message });

export async function verifyAgentToken(
  token: string,
  relaySecret: Buffer,
  getAccount: (id: string) => Promise<AccountRecord | null>,
): Promise<VerifyResult> {
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload !== 'object' || decoded.payload === null) return invalid('token is not a JWT');
  const iss = decoded.payload.iss;
  if (typeof iss !== 'string') return invalid('token has no issuer');

  let key: crypto.KeyObject | Buffer;
  let algorithms: jwt.Algorithm[];
  let account: AccountRecord | null = null;
  if (iss === RELAY_ISSUER) {
    key = relayJwtKey(relaySecret);
    algorithms = ['HS256'];
  } else {
    if (!ID_PATTERN.test(iss)) return invalid('unknown issuer');
    account = await getAccount(iss);
    if (!account?.agentKey) return invalid('unknown issuer');
    key = crypto.createPublicKey(account.agentKey.pem);
    algorithms = [account.agentKey.alg];
  }

  let payload: jwt.JwtPayload;
  try {
    payload = jwt.verify(token, key, { algorithms, audience: AGENT_AUDIENCE, issuer: iss }) as jwt.JwtPayload;
  } catch (err) {
    if (err instanceof jwt.TokenExpiredError) return { ok: false, code: 'token_expired', message: 'token expired' };
    return invalid(`token rejected: ${(err as Error).message}`);
  }
  if (typeof payload.exp !== 'number') return invalid('token has no exp');
  const issuedAt = typeof payload.iat === 'number' ? Math.min(payload.iat, Math.floor(Date.now() / 1000)) : Math.floor(Date.now() / 1000);
  if (payload.exp - issuedAt > MAX_AGENT_TOKEN_LIFETIME_SEC + CLOCK_SKEW_SEC) return invalid('token lifetime exceeds 7 days');
  if (typeof payload.sub !== 'string' || !ID_PATTERN.test(payload.sub)) return invalid('token sub must be an agent id');
  const name = typeof payload.name === 'string' ? payload.name.slice(0, 100) : payload.sub;
  const accountId = account ? account.id : payload.acc;
  if (typeof accountId !== 'string' || !ID_PATTERN.test(accountId)) return invalid('token has no account');
  if (account && payload.acc !== undefined && payload.acc !== account.id) return invalid('token account does not match issuer');
  if (iss === RELAY_ISSUER && payload.skg !== undefined) {
    const current = await getAccount(accountId);
    if (!current) return invalid('unknown account');
    if (payload.skg !== secretGeneration(current.secretHash)) return invalid('token revoked: the account secret key was rotated after it was minted');
  }
  const skg = iss === RELAY_ISSUER && typeof payload.skg === 'string' ? payload.skg : undefined;
  return { ok: true, claims: { agentId: payload.sub, name, accountId, exp: payload.exp, ...(skg ? { secretGeneration: skg } : {}) } };
}
