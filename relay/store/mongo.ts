/**
 * The production store on MongoDB (official driver), used when MONGODB_URL is set.
 * No MongoDB server can run in this project's environment: the index specs and
 * filters below are unit-tested as data, and the conformance suite runs against a
 * real server only when MONGODB_URL is given (see DESIGN.md).
 */
import { MongoClient, MongoServerError, type Collection, type Db, type IndexDescription } from 'mongodb';
import { StoreConflictError, type AccountRecord, type Store } from './types.ts';

export type AccountDoc = Omit<AccountRecord, 'id'> & { _id: string };

export const ACCOUNT_INDEXES: IndexDescription[] = [
  { key: { publicKey: 1 }, name: 'publicKey_unique', unique: true },
  { key: { name: 1 }, name: 'name_unique', unique: true },
];

export function accountByPublicKeyFilter(publicKey: string): { publicKey: string } {
  // A plain string equality: a caller can never smuggle an operator object in here.
  return { publicKey: String(publicKey) };
}

/**
 * The document stored for an account. An absent agentKey is left out: the driver would
 * otherwise serialise `undefined` as BSON null (ignoreUndefined defaults to false).
 */
export function accountToDoc(a: AccountRecord): AccountDoc {
  const { id, agentKey, ...rest } = a;
  return agentKey ? { _id: id, ...rest, agentKey } : { _id: id, ...rest };
}

export function accountFromDoc(d: AccountDoc | null): AccountRecord | null {
  if (!d) return null;
  const { _id, agentKey, ...rest } = d;
  // A null agentKey (written by an older version) means "none", as in the interface.
  return agentKey ? { id: _id, ...rest, agentKey } : { id: _id, ...rest };
}

export class MongoStore implements Store {
  readonly kind = 'mongodb' as const;
  private constructor(private client: MongoClient, private db: Db) {}

  static async connect(url: string, dbName?: string): Promise<MongoStore> {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000, appName: 'cobrowse-relay' });
    await client.connect();
    const store = new MongoStore(client, client.db(dbName));
    await store.accounts().createIndexes(ACCOUNT_INDEXES);
    return store;
  }

  private accounts(): Collection<AccountDoc> {
    return this.db.collection<AccountDoc>('accounts');
  }

  async createAccount(a: AccountRecord): Promise<void> {
    try {
      await this.accounts().insertOne(accountToDoc(a));
    } catch (err) {
      if (err instanceof MongoServerError && err.code === 11000) {
        throw new StoreConflictError('an account with this id, name or public key exists');
      }
      throw err;
    }
  }

  async getAccountById(id: string): Promise<AccountRecord | null> {
    return accountFromDoc(await this.accounts().findOne({ _id: String(id) }));
  }

  async getAccountByPublicKey(publicKey: string): Promise<AccountRecord | null> {
    return accountFromDoc(await this.accounts().findOne(accountByPublicKeyFilter(publicKey)));
  }

  async getAccountByName(name: string): Promise<AccountRecord | null> {
    return accountFromDoc(await this.accounts().findOne({ name: String(name) }));
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
