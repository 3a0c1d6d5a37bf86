/** The embedded default store: one SQLite file (WAL) under DATA_DIR. */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreConflictError, type AccountRecord, type Store } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  public_key TEXT NOT NULL UNIQUE,
  secret_hash TEXT NOT NULL,
  allowed_origins TEXT NOT NULL,
  require_consent INTEGER NOT NULL,
  agent_key_alg TEXT,
  agent_key_pem TEXT,
  created_at INTEGER NOT NULL
);`;

interface AccountRow {
  id: string;
  name: string;
  public_key: string;
  secret_hash: string;
  allowed_origins: string;
  require_consent: number;
  agent_key_alg: string | null;
  agent_key_pem: string | null;
  created_at: number;
}

function fromRow(r: AccountRow | undefined): AccountRecord | null {
  if (!r) return null;
  return {
    id: r.id,
    name: r.name,
    publicKey: r.public_key,
    secretHash: r.secret_hash,
    allowedOrigins: JSON.parse(r.allowed_origins) as string[],
    requireConsent: r.require_consent === 1,
    agentKey: r.agent_key_alg && r.agent_key_pem ? { alg: r.agent_key_alg as 'RS256' | 'ES256', pem: r.agent_key_pem } : undefined,
    createdAt: new Date(r.created_at),
  };
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly file: string;
  private db: Database.Database;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = path.join(dataDir, 'cobrowse.sqlite');
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  async createAccount(a: AccountRecord): Promise<void> {
    try {
      this.db
        .prepare(
          `INSERT INTO accounts (id, name, public_key, secret_hash, allowed_origins, require_consent, agent_key_alg, agent_key_pem, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(a.id, a.name, a.publicKey, a.secretHash, JSON.stringify(a.allowedOrigins), a.requireConsent ? 1 : 0,
          a.agentKey?.alg ?? null, a.agentKey?.pem ?? null, a.createdAt.getTime());
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) {
        throw new StoreConflictError('an account with this id, name or public key exists');
      }
      throw err;
    }
  }

  async getAccountById(id: string): Promise<AccountRecord | null> {
    return fromRow(this.db.prepare('SELECT * FROM accounts WHERE id = ?').get(id) as AccountRow | undefined);
  }

  async getAccountByPublicKey(publicKey: string): Promise<AccountRecord | null> {
    return fromRow(this.db.prepare('SELECT * FROM accounts WHERE public_key = ?').get(publicKey) as AccountRow | undefined);
  }

  async getAccountByName(name: string): Promise<AccountRecord | null> {
    return fromRow(this.db.prepare('SELECT * FROM accounts WHERE name = ?').get(name) as AccountRow | undefined);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
