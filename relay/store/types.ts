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
  /**
   * End-to-end encryption (docs/security.md): `required` = the embed shares only with agents whose
   * viewer takes part. Absent (accounts from before the setting) = off; new accounts get `required`.
   */
  e2e?: 'required' | 'off';
  /** Public key of the customer's own agent-token signer, if registered. */
  agentKey?: { alg: AgentKeyAlg; pem: string };
  createdAt: Date;
}

/**
 * The only data kept about an end user (see README "Data we keep"): nothing else, ever.
 * Removed `retention` after `lastSeen` (MongoDB TTL index; SQLite sweep).
 */
export interface VisitorRecord {
  accountId: string;
  visitorId: string;
  ip: string;
  lastUrl: string;
  firstSeen: Date;
  lastSeen: Date;
  userId?: string;
  name?: string;
  email?: string;
  /** The 6-digit code while one is active. */
  lookupCode?: string;
  lookupCodeExpiresAt?: Date;
}

/** One coalesced update: fields left undefined are not changed; `firstSeen` is set on insert only. */
export interface VisitorUpdate {
  accountId: string;
  visitorId: string;
  lastSeen: Date;
  ip?: string;
  lastUrl?: string;
  userId?: string;
  name?: string;
  email?: string;
  lookupCode?: string;
  lookupCodeExpiresAt?: Date;
  /**
   * The visitor's tombstone key (`relay/metadata/tombstones.ts`). The metadata service always sets
   * it; the store then refuses the update, in the same write, when a live tombstone has this key,
   * so a deleted visitor is never re-created (by this relay, another one, or after a restart).
   * Never stored in the visitor record.
   */
  tombstoneKey?: string;
}

/**
 * A deleted visitor, remembered until `expiresAt` (deletion + RETENTION_DAYS) so its id is refused.
 * Only a keyed hash of (account, visitor id) is kept: the id itself is an identifier.
 */
export interface Tombstone {
  accountId: string;
  key: string;
  expiresAt: Date;
}

/** What a deletion removed: the ids, and the user id and email the records held (for the activity scrub). */
export interface DeletedVisitor {
  visitorId: string;
  userId?: string;
  email?: string;
}

/**
 * Erasure in the activity log. Every entry of these visitors, or with one of these user keys, or
 * (for user ids the log keeps in clear) one of these user ids, loses its user id and user key, and
 * its visitor id is replaced by `pseudonym(visitorId)`.
 */
export interface ActivityScrub {
  visitorIds: string[];
  userKeys: string[];
  userIds: string[];
  /** A keyed hash computed by the metadata service: the store never sees the secret. */
  pseudonym: (visitorId: string) => string;
}

export interface VisitorQuery {
  /** Free text: matched against user id, name, email and URL (case-insensitive substring). */
  q?: string;
  userId?: string;
  email?: string;
  lookupCode?: string;
  /** Only visitors seen at or after this time. */
  seenSince?: Date;
  /** Only these visitors (the relay's online set), applied before paging. */
  onlyVisitorIds?: string[];
  /** None of these visitors (offline = all but the online set), applied before paging. */
  exceptVisitorIds?: string[];
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface DeleteVisitorsFilter {
  visitorIds?: string[];
  userIds?: string[];
  emails?: string[];
  /** Every visitor of the account except these (used for "all offline"). */
  allExcept?: string[];
}

/** The kinds of entry are part of the REST contract: one list, in protocol/rest.ts. */
export type { ActivityType } from '../../protocol/rest.ts';
import type { ActivityType } from '../../protocol/rest.ts';

export interface ActivityEvent {
  accountId: string;
  at: Date;
  type: ActivityType;
  agentId?: string;
  visitorId?: string;
  /** Masked when it looks like an email (`j***@example.com`). */
  userId?: string;
  /** Keyed hash of the unmasked user id, so an erasure request finds exactly that user's entries. */
  userKey?: string;
  /** Counts and the like, never page content. */
  detail?: string;
  /**
   * Idempotency key (24 hex, `relay/metadata/eventId.ts`): appending an event with the same id
   * again keeps one entry. Written, never returned by `listActivity`.
   */
  eventId?: string;
}

export interface ActivityQuery {
  visitorId?: string;
  agentId?: string;
  type?: ActivityType;
  since?: Date;
  until?: Date;
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface Store {
  readonly kind: 'sqlite' | 'mongodb';
  /** Throws StoreConflictError when the id, name or public key is already taken. */
  createAccount(account: AccountRecord): Promise<void>;
  getAccountById(id: string): Promise<AccountRecord | null>;
  getAccountByPublicKey(publicKey: string): Promise<AccountRecord | null>;
  getAccountByName(name: string): Promise<AccountRecord | null>;
  /** Every account, oldest first (the account CLI's `list`; an operator's view, never over the API). */
  listAccounts(): Promise<AccountRecord[]>;
  /** Replaces the account's secret hash (rotation); false if there is no such account. */
  setAccountSecretHash(id: string, secretHash: string): Promise<boolean>;
  /** Applies a batch of coalesced updates (upserts). */
  upsertVisitors(updates: VisitorUpdate[]): Promise<void>;
  getVisitor(accountId: string, visitorId: string): Promise<VisitorRecord | null>;
  /** Newest `lastSeen` first. */
  searchVisitors(accountId: string, query: VisitorQuery): Promise<Page<VisitorRecord>>;
  /** Deletes matching visitors of this account only; returns what was deleted. */
  deleteVisitors(accountId: string, filter: DeleteVisitorsFilter): Promise<DeletedVisitor[]>;
  /** Removes visitors whose lastSeen is older than `now - retentionMs`; returns how many. */
  sweepExpiredVisitors(now: Date, retentionMs: number): Promise<number>;
  /** Append-only. */
  appendActivity(events: ActivityEvent[]): Promise<void>;
  /** Newest first. */
  listActivity(accountId: string, query: ActivityQuery): Promise<Page<ActivityEvent>>;
  /** Operator-set activity retention: removes entries older than `before` (all accounts); returns how many. */
  sweepActivity(before: Date): Promise<number>;
  /** Erasure request: removes activity entries with this user key; returns how many. */
  purgeActivity(accountId: string, userKey: string): Promise<number>;
  /** Erasure: pseudonymises a person's identifiers in the activity log (see ActivityScrub); returns how many entries changed. */
  scrubActivity(accountId: string, scrub: ActivityScrub): Promise<number>;
  /** Adds tombstones (idempotent; a later expiry wins). */
  addTombstones(tombstones: Tombstone[]): Promise<void>;
  /** Whether a tombstone with this key is live at `now`. */
  hasTombstone(accountId: string, key: string, now: Date): Promise<boolean>;
  /** Removes tombstones expired at `now`; returns how many (MongoDB: a TTL index does it, 0). */
  sweepTombstones(now: Date): Promise<number>;
  /**
   * After an erasure: leaves no byte of deleted data in the store's files (SQLite: VACUUM off the
   * main thread, then a WAL checkpoint with TRUNCATE). Resolves when done; `ms` is how long it took.
   */
  vacuum(): Promise<{ ms: number }>;
  /** Liveness for /readyz. */
  ping(): Promise<void>;
  /** The relay is starting: get the write path ready now rather than at the first write (SQLite: its writer thread, ~40 ms of CPU). */
  warm?(): void;
  close(): Promise<void>;
}

export class StoreConflictError extends Error {
  readonly code = 'conflict';
}
