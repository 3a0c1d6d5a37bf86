/** The demo account `npm start` seeds, so a fresh clone shows the product at once. */
import type { AccountService } from './accounts.ts';
import type { RelayConfig } from './config.ts';
import type { Store } from './store/types.ts';

export const DEMO_ACCOUNT_NAME = 'demo';

export async function ensureDemoAccount(store: Store, accounts: AccountService, config: RelayConfig): Promise<{ accountId: string; publicKey: string; secretKey?: string }> {
  const existing = await store.getAccountByName(DEMO_ACCOUNT_NAME);
  if (existing) return { accountId: existing.id, publicKey: existing.publicKey };
  const url = new URL(config.publicUrl);
  const origins = new Set([url.origin, `${url.protocol}//localhost:${config.port}`, `${url.protocol}//127.0.0.1:${config.port}`]);
  const created = await accounts.create({ name: DEMO_ACCOUNT_NAME, origins: [...origins], requireConsent: true });
  return created;
}
