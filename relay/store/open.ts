import type { RelayConfig } from '../config.ts';
import { MongoStore } from './mongo.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/** MongoDB when MONGODB_URL is set, else the embedded SQLite file under DATA_DIR. */
export async function openStore(config: Pick<RelayConfig, 'mongodbUrl' | 'dataDir' | 'retentionDays'>): Promise<Store> {
  if (config.mongodbUrl) return MongoStore.connect(config.mongodbUrl, undefined, config.retentionDays);
  return new SqliteStore(config.dataDir);
}
