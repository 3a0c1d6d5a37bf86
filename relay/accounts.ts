/** Accounts: creation (keys issued once), cached look-ups, secret verification. */
import crypto from 'node:crypto';
import { isRefusal, type AuthRefusal, type AuthTicket } from './auth/authGate.ts';
import { hashSecret, makeSecretKey, randomId, verifySecret, accountIdFromSecretKey } from './auth/secrets.ts';
import { normaliseOriginPattern } from './auth/origin.ts';
import type { AccountRecord, AgentKeyAlg, Store } from './store/types.ts';

export interface NewAccount {
  name: string;
  origins: string[];
  requireConsent?: boolean;
  /** Default `required` (docs/security.md, "End-to-end encryption"). */
  e2e?: 'required' | 'off';
  agentKey?: { alg: AgentKeyAlg; pem: string };
}

export interface CreatedAccount {
  accountId: string;
  publicKey: string;
  /** Shown once; only its hash is stored. */
  secretKey: string;
}

const CACHE_TTL_MS = 30_000;

/** Admits one scrypt run (asked only when one must start): a ticket to settle, or a refusal. */
export type ScryptAdmission = () => AuthTicket | AuthRefusal;
const ALWAYS: ScryptAdmission = () => ({ settle() {} });

export class AccountService {
  private byKeyCache = new Map<string, { at: number; account: AccountRecord | null }>();
  private byIdCache = new Map<string, { at: number; account: AccountRecord | null }>();
  /** sha256(secret) of recently verified secrets, so scrypt does not run on every REST call. */
  private verified = new Map<string, { at: number; accountId: string }>();
  /** Verifications in progress by sha256(secret): concurrent requests with one key share one scrypt run. */
  private verifying = new Map<string, Promise<AccountRecord | null>>();
  /** Bumped by every rotation: a verification that read the hash before one must not vouch for the key after it. */
  private rotations = 0;

  constructor(
    private store: Store,
    private hooks: { onScryptRun?: () => void } = {},
  ) {}

  async create(input: NewAccount): Promise<CreatedAccount> {
    if (!/^[\w .@-]{1,100}$/.test(input.name)) throw new Error('account name must be 1-100 letters, digits, spaces, . @ _ -');
    if (input.origins.length === 0) throw new Error('at least one allowed origin is required');
    const allowedOrigins = input.origins.map(normaliseOriginPattern);
    let agentKey: NewAccount['agentKey'];
    if (input.agentKey) {
      const key = crypto.createPublicKey(input.agentKey.pem); // throws on a bad PEM
      const type = key.asymmetricKeyType;
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if ((input.agentKey.alg === 'RS256' && type !== 'rsa') || (input.agentKey.alg === 'ES256' && (type !== 'ec' || curve !== 'prime256v1'))) {
        throw new Error(`agent key type ${type}${curve ? ` (${curve})` : ''} does not match ${input.agentKey.alg}`);
      }
      // Keep only the public half: a private key PEM given by mistake must never be stored.
      agentKey = { alg: input.agentKey.alg, pem: key.export({ type: 'spki', format: 'pem' }).toString() };
    }
    const id = randomId('acc');
    const publicKey = randomId('pk', 18);
    const secretKey = makeSecretKey(id);
    await this.store.createAccount({
      id,
      name: input.name,
      publicKey,
      secretHash: await hashSecret(secretKey),
      allowedOrigins,
      requireConsent: input.requireConsent ?? true,
      e2e: input.e2e ?? 'required',
      agentKey,
      createdAt: new Date(),
    });
    return { accountId: id, publicKey, secretKey };
  }

  /**
   * Issues a new secret key and stores only its hash. The new key works at once everywhere (a failed
   * verification looks past the cache); the old one stops working at once in this process and
   * within CACHE_TTL_MS (30 s) in any other, whose cache may still vouch for it.
   * Returns the new key (shown once), or null if there is no such account.
   */
  async rotateSecret(accountId: string): Promise<string | null> {
    const secretKey = makeSecretKey(accountId);
    this.rotations++;
    if (!(await this.store.setAccountSecretHash(accountId, await hashSecret(secretKey)))) return null;
    for (const [digest, v] of this.verified) if (v.accountId === accountId) this.verified.delete(digest);
    this.byIdCache.delete(accountId);
    for (const [key, hit] of this.byKeyCache) if (hit.account?.id === accountId) this.byKeyCache.delete(key);
    return secretKey;
  }

  /** Forgets everything cached about the account (cluster mode: it was rotated on another relay). */
  forget(accountId: string): void {
    this.rotations++;
    for (const [digest, v] of this.verified) if (v.accountId === accountId) this.verified.delete(digest);
    this.byIdCache.delete(accountId);
    for (const [key, hit] of this.byKeyCache) if (hit.account?.id === accountId) this.byKeyCache.delete(key);
  }

  async byPublicKey(publicKey: string): Promise<AccountRecord | null> {
    return this.cached(this.byKeyCache, publicKey, () => this.store.getAccountByPublicKey(publicKey));
  }

  /**
   * What `byPublicKey` would answer from its cache, without a promise (a visitor upgrade's fast path);
   * undefined when the key is not cached or the entry is stale (ask `byPublicKey`).
   */
  byPublicKeyCached(publicKey: string): AccountRecord | null | undefined {
    const hit = this.byKeyCache.get(publicKey);
    return hit && Date.now() - hit.at < CACHE_TTL_MS ? hit.account : undefined;
  }

  async byId(id: string): Promise<AccountRecord | null> {
    return this.cached(this.byIdCache, id, () => this.store.getAccountById(id));
  }

  /** The account as stored now, past the cache (which it refreshes): for checks that must see another process's rotation. */
  async byIdUncached(id: string): Promise<AccountRecord | null> {
    const account = await this.store.getAccountById(id);
    if (this.byIdCache.size > 10_000) this.byIdCache.clear();
    this.byIdCache.set(id, { at: Date.now(), account });
    return account;
  }

  /**
   * The account a secret key belongs to, or null; or the refusal `admit` gave. A key verified in
   * the last CACHE_TTL_MS costs no scrypt run and is not submitted to `admit`; neither is a key
   * whose verification is already running (it waits for that one). Otherwise `admit` is asked
   * before anything else is done, and its ticket is settled with the outcome.
   */
  async verifySecretKey(secretKey: string): Promise<AccountRecord | null>;
  async verifySecretKey(secretKey: string, admit: ScryptAdmission): Promise<AccountRecord | null | AuthRefusal>;
  async verifySecretKey(secretKey: string, admit: ScryptAdmission = ALWAYS): Promise<AccountRecord | null | AuthRefusal> {
    const accountId = accountIdFromSecretKey(secretKey);
    if (!accountId) return null;
    const digest = crypto.createHash('sha256').update(secretKey).digest('base64url');
    const hit = this.verified.get(digest);
    if (hit && Date.now() - hit.at < CACHE_TTL_MS && hit.accountId === accountId) return this.byId(accountId);
    const running = this.verifying.get(digest);
    if (running) return running;
    const ticket = admit();
    if (isRefusal(ticket)) return ticket;
    const run = this.verifyUncached(secretKey, accountId, digest);
    this.verifying.set(digest, run);
    try {
      const account = await run;
      ticket.settle(account !== null);
      return account;
    } catch (err) {
      ticket.settle(false);
      throw err;
    } finally {
      this.verifying.delete(digest);
    }
  }

  /** At most one scrypt run, against the stored hash read past the cache (so a key rotated by another process works at once). */
  private async verifyUncached(secretKey: string, accountId: string, digest: string): Promise<AccountRecord | null> {
    const rotations = this.rotations;
    const account = await this.store.getAccountById(accountId);
    if (this.byIdCache.size > 10_000) this.byIdCache.clear();
    this.byIdCache.set(accountId, { at: Date.now(), account });
    if (!account) return null;
    this.hooks.onScryptRun?.();
    if (!(await verifySecret(secretKey, account.secretHash))) return null;
    if (rotations !== this.rotations) return null; // rotated meanwhile: this key may be the old one
    if (this.verified.size > 1000) this.verified.clear();
    this.verified.set(digest, { at: Date.now(), accountId });
    return account;
  }

  private async cached(
    map: Map<string, { at: number; account: AccountRecord | null }>,
    key: string,
    load: () => Promise<AccountRecord | null>,
  ): Promise<AccountRecord | null> {
    const hit = map.get(key);
    if (hit && Date.now() - hit.at < CACHE_TTL_MS) return hit.account;
    const account = await load();
    if (map.size > 10_000) map.clear();
    map.set(key, { at: Date.now(), account });
    return account;
  }
}
