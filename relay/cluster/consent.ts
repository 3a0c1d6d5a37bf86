/**
 * Consent holds cluster-wide: an agent the visitor allowed on one relay follows the visitor to a tab
 * on another relay without a new prompt. A JetStream KV bucket (memory storage) holds
 * `<account>.<visitor>.<agent>`, watched into a local set. The visitor's relay re-puts its visitors'
 * consents every CONSENT_REFRESH_MS; when the visitor is gone from every relay the keys expire after
 * CONSENT_MAX_AGE_MS (one relay alone forgets consent after VISITOR_GRACE_MS; docs/cluster.md).
 * A refusal, "End session" or an agent moving to another visitor deletes the key at once.
 */
import { StorageType, type KV } from 'nats';
import { CONSENT_BUCKET, consentKey } from '../../protocol/cluster.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Visitor } from '../sessions/types.ts';
import type { ClusterConnection } from './connection.ts';

const CONSENT_MAX_AGE_MS = 60_000;
const CONSENT_REFRESH_MS = 20_000;
const MAX_CONSENTS = 1_000_000;

export class SharedConsent {
  private kv?: KV;
  private stopWatch?: () => void;
  private readonly held = new Set<string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly conn: ClusterConnection,
    private readonly localVisitors: () => Iterable<Visitor>,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.open();
    this.timer = setInterval(() => this.refresh(), CONSENT_REFRESH_MS);
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
    const it = await kv.watch({ key: '>' });
    this.stopWatch = () => it.stop();
    (async () => {
      for await (const e of it) {
        if (e.operation === 'PUT') {
          if (this.held.size < MAX_CONSENTS) this.held.add(e.key);
        } else this.held.delete(e.key);
      }
    })().catch(() => {});
    this.refresh();
  }

  has(v: Visitor, agentId: string): boolean {
    return this.held.has(consentKey(v.account.id, v.visitorId, agentId));
  }

  set(v: Visitor, agentId: string, allow: boolean): void {
    const key = consentKey(v.account.id, v.visitorId, agentId);
    if (allow) this.held.add(key);
    else this.held.delete(key);
    if (!this.kv || !this.conn.up) return;
    (allow ? this.kv.put(key, '1') : this.kv.delete(key)).catch(() => this.metrics.counters.cluster_presence_write_failures_total++);
  }

  private refresh(): void {
    for (const v of this.localVisitors()) {
      if (v.tabs.size === 0) continue;
      for (const agentId of v.consented) this.set(v, agentId, true);
    }
  }
}
