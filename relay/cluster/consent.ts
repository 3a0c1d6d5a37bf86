/**
 * Consent holds cluster-wide: an agent the visitor allowed on one relay follows the visitor to a tab
 * on another relay without a new prompt. A JetStream KV bucket (memory storage) holds
 * `<account>.<visitor>.<agent>`, watched into a local map with each entry's expiry (its write time
 * + CONSENT_MAX_AGE_MS: the bucket's max age sends watchers nothing, so `has()` checks the expiry
 * and the refresh timer sweeps). The visitor's relays keep their visitors' consents alive every
 * CONSENT_REFRESH_MS with a revision-checked update, so a delete made anywhere since wins; a delete
 * seen in the watch also drops the agent from this relay's own `Visitor.consented`. When the
 * visitor is gone from every relay the keys expire after CONSENT_MAX_AGE_MS (one relay alone
 * forgets consent after VISITOR_GRACE_MS; docs/cluster.md). A refusal, "End session" or an agent
 * moving to another visitor deletes the key at once (queued while NATS is down, sent on reconnect).
 */
import { StorageType, type KV } from 'nats';
import { CONSENT_BUCKET, consentKey } from '../../protocol/cluster.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Visitor } from '../sessions/types.ts';
import type { ClusterConnection } from './connection.ts';
import { retryUntil } from './startRetry.ts';

export const CONSENT_MAX_AGE_MS = 60_000;
export const CONSENT_REFRESH_MS = 20_000;
const MAX_CONSENTS = 1_000_000;
const MAX_PENDING_DELETES = 100_000;

interface Held {
  /** KV revision last seen (0: written here, not yet confirmed). */
  rev: number;
  /** Date.now() after which the entry no longer counts. */
  until: number;
}

export class SharedConsent {
  private kv?: KV;
  private stopWatch?: () => void;
  private readonly held = new Map<string, Held>();
  /** Revocations made while NATS was down: sent on reconnect. */
  private readonly pendingDeletes = new Set<string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly conn: ClusterConnection,
    private readonly localVisitors: () => Iterable<Visitor>,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly refreshMs = CONSENT_REFRESH_MS,
  ) {}

  /** `deadlineMs`: how long NATS may take to open the bucket and its watch (startRetry.ts). */
  async start(deadlineMs: number): Promise<void> {
    await retryUntil('consent: opening the consent bucket', () => this.open(), this.log, deadlineMs);
    this.timer = setInterval(() => this.refresh(), this.refreshMs);
    this.timer.unref();
    this.conn.onChange((up) => {
      if (up) this.open().catch((err) => this.log.warn({ err: (err as Error).message }, 'consent: reopening the bucket failed'));
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.stopWatch?.();
  }

  private async open(): Promise<void> {
    const kv = await this.conn.nc.jetstream().views.kv(CONSENT_BUCKET, { history: 1, ttl: CONSENT_MAX_AGE_MS, storage: StorageType.Memory });
    this.kv = kv;
    this.stopWatch?.();
    for (const key of this.pendingDeletes) kv.delete(key).catch(() => this.metrics.counters.cluster_presence_write_failures_total++);
    this.pendingDeletes.clear();
    const it = await kv.watch({ key: '>' });
    this.stopWatch = () => it.stop();
    (async () => {
      for await (const e of it) {
        if (e.operation === 'PUT') {
          const until = e.created.getTime() + CONSENT_MAX_AGE_MS;
          if (until <= Date.now()) this.held.delete(e.key);
          else if (this.held.has(e.key) || this.held.size < MAX_CONSENTS) this.held.set(e.key, { rev: e.revision, until });
        } else {
          this.held.delete(e.key);
          this.revokedElsewhere(e.key);
        }
      }
    })().catch(() => {});
  }

  /** A delete from any relay: this relay's own copy of the consent goes too (no refresh re-puts it). */
  private revokedElsewhere(key: string): void {
    for (const v of this.localVisitors()) {
      const prefix = consentKey(v.account.id, v.visitorId, '');
      if (!key.startsWith(prefix)) continue;
      v.consented.delete(key.slice(prefix.length));
    }
  }

  has(v: Visitor, agentId: string): boolean {
    const key = consentKey(v.account.id, v.visitorId, agentId);
    const h = this.held.get(key);
    if (!h) return false;
    if (h.until > Date.now()) return true;
    this.held.delete(key);
    return false;
  }

  set(v: Visitor, agentId: string, allow: boolean): void {
    const key = consentKey(v.account.id, v.visitorId, agentId);
    if (allow) {
      this.pendingDeletes.delete(key);
      if (this.held.has(key) || this.held.size < MAX_CONSENTS) this.held.set(key, { rev: 0, until: Date.now() + CONSENT_MAX_AGE_MS });
    } else this.held.delete(key);
    if (!this.kv || !this.conn.up) {
      if (!allow && this.pendingDeletes.size < MAX_PENDING_DELETES) this.pendingDeletes.add(key);
      return;
    }
    (allow ? this.kv.put(key, '1') : this.kv.delete(key)).catch(() => this.metrics.counters.cluster_presence_write_failures_total++);
  }

  /**
   * Keeps this relay's visitors' consents alive, each only if the bucket still holds the revision
   * last seen (a delete since, from any relay, makes the update fail: the revocation wins). Sweeps
   * expired entries. Exposed for tests; runs every `refreshMs`.
   */
  refresh(): void {
    const now = Date.now();
    for (const [key, h] of this.held) if (h.until <= now) this.held.delete(key);
    this.metrics.counters.cluster_consent_refreshes_total++;
    const kv = this.kv;
    if (!kv || !this.conn.up) return;
    for (const v of this.localVisitors()) {
      if (v.tabs.size === 0) continue;
      for (const agentId of v.consented) {
        const key = consentKey(v.account.id, v.visitorId, agentId);
        const h = this.held.get(key);
        if (!h || h.rev === 0) continue; // gone from the bucket (revoked or expired), or not confirmed yet
        kv.update(key, '1', h.rev).catch(() => {
          // Revised since: a delete wins; a concurrent re-put by another relay keeps it alive anyway.
        });
      }
    }
  }
}
