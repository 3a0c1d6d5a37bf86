/** The store interface: one contract, two implementations (SQLite embedded, MongoDB). */

export type AgentKeyAlg = 'RS256' | 'ES256';

export interface AccountRecord {
  id: string;
  name: string;
  publicKey: string;
  /** scrypt hash of the secret key (see relay/auth/secrets.ts); the secret itself is never stored. */
  secretHash: string;
  /** Exact origins (`https://shop.example.com`) or wildcard subdomains (`https://*.example.com`). */
  allowedOrigins: string[];
  requireConsent: boolean;
  /** Public key of the customer's own agent-token signer, if registered. */
  agentKey?: { alg: AgentKeyAlg; pem: string };
  createdAt: Date;
}

export interface Store {
  readonly kind: 'sqlite' | 'mongodb';
  /** Throws StoreConflictError when the id, name or public key is already taken. */
  createAccount(account: AccountRecord): Promise<void>;
  getAccountById(id: string): Promise<AccountRecord | null>;
  getAccountByPublicKey(publicKey: string): Promise<AccountRecord | null>;
  getAccountByName(name: string): Promise<AccountRecord | null>;
  /** Liveness for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class StoreConflictError extends Error {
  readonly code = 'conflict';
}
