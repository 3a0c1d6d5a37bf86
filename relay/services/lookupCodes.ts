/**
 * The 6-digit lookup code a visitor reads out: random on one relay; in cluster mode claimed in NATS
 * so that no two online visitors of the cluster hold the same code (relay/cluster/codes.ts).
 */
import crypto from 'node:crypto';

export const LOOKUP_CODE_TTL_MS = 10 * 60_000;

export interface CodeClaimer {
  claimCode(accountId: string, visitorId: string): Promise<string>;
}

export class LookupCodes {
  /** Set in cluster mode. */
  claimer?: CodeClaimer;

  async issue(accountId: string, visitorId: string): Promise<{ code: string; expiresAt: Date }> {
    const code = this.claimer ? await this.claimer.claimCode(accountId, visitorId) : String(crypto.randomInt(0, 1_000_000)).padStart(6, '0');
    return { code, expiresAt: new Date(Date.now() + LOOKUP_CODE_TTL_MS) };
  }
}
