/**
 * Lookup codes unique across the cluster: a code is claimed with JetStream KV `create`, which fails
 * when another relay holds it, and the key expires with the code. With NATS down the code is
 * issued unclaimed (counted): a rare duplicate shows two visitors for one code, never the wrong one alone.
 */
import crypto from 'node:crypto';
import { StorageType, type KV } from 'nats';
import { CODES_BUCKET, codeKey } from '../../protocol/cluster.ts';
import type { Metrics } from '../metrics.ts';
import type { ClusterConnection } from './connection.ts';

const MAX_TRIES = 8;

export const randomCode = () => String(crypto.randomInt(0, 1_000_000)).padStart(6, '0');

export class CodeClaims {
  private kv?: KV;

  constructor(
    private readonly conn: ClusterConnection,
    private readonly ttlMs: number,
    private readonly metrics: Metrics,
  ) {}

  private async bucket(): Promise<KV> {
    this.kv ??= await this.conn.nc.jetstream().views.kv(CODES_BUCKET, { history: 1, ttl: this.ttlMs, storage: StorageType.Memory });
    return this.kv;
  }

  async claim(accountId: string, visitorId: string): Promise<string> {
    if (this.conn.up) {
      try {
        const kv = await this.bucket();
        for (let i = 0; i < MAX_TRIES; i++) {
          const code = randomCode();
          try {
            await kv.create(codeKey(accountId, code), visitorId);
            return code;
          } catch (err) {
            if (!/wrong last sequence|key exists/i.test((err as Error).message)) throw err;
          }
        }
      } catch {
        this.kv = undefined; // a NATS restart (memory storage) may have dropped the bucket
      }
    }
    this.metrics.counters.cluster_code_claims_unchecked_total++;
    return randomCode();
  }
}
