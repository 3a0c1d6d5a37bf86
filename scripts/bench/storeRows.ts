/**
 * `npx tsx scripts/bench/storeRows.ts [rows] [prefill...]`: what a new visitor's row costs the SQLite
 * store, with the relay's own schema, upsert and batches (relay/store/sqliteVisitorWriter.ts), for
 * visitor ids as issued now (creation second first: relay/auth/visitorToken.ts) and as issued before
 * (16 random characters). Ids are issued at a simulated 2,000 new visitors a second, so that rows of
 * one batch share a few seconds, as in a relay. Prints CPU µs per row, medians of 3.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { visitorIdAt } from '../../relay/auth/visitorToken.ts';
import { SqliteStore } from '../../relay/store/sqlite.ts';
import { rowParams, UPSERT_VISITOR_SQL } from '../../relay/store/sqliteVisitorWriter.ts';
import type { VisitorUpdate } from '../../relay/store/types.ts';

const rows = Number(process.argv[2] ?? 30_000);
const prefills = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [20_000, 200_000];
const BATCH = 500; // the write-behind's
const PER_SECOND = 2000;
const ROUNDS = 3;

const schemes = {
  'time-ordered (now)': (i: number, t0: number) => visitorIdAt(t0 + Math.floor((i * 1000) / PER_SECOND)),
  'random (before)': () => crypto.randomBytes(12).toString('base64url'),
};

function update(visitorId: string, at: number): VisitorUpdate {
  return { accountId: 'acc_bench', visitorId, lastSeen: new Date(at), ip: '127.0.0.1', tombstoneKey: crypto.createHash('sha256').update(visitorId).digest('base64url') };
}

async function measure(scheme: keyof typeof schemes, prefill: number): Promise<{ cpuUs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-rows-'));
  try {
    await new SqliteStore(dir).close(); // the relay's schema and migrations
    const file = path.join(dir, 'cobrowse.sqlite');
    const db = new Database(file);
    db.pragma('busy_timeout = 5000');
    db.pragma('secure_delete = ON'); // as the relay's writer
    const stmt = db.prepare(UPSERT_VISITOR_SQL);
    const run = db.transaction((batch: ReturnType<typeof rowParams>[]) => {
      for (const r of batch) stmt.run(r);
    });
    const t0 = Date.now() - 86_400_000; // a day of visitors, then the measured ones
    const id = schemes[scheme];
    // Rows are made before the clock starts: the window holds the store's work only, not id generation
    // (the random scheme's randomBytes per id cost more than the pooled ids).
    const make = (from: number, n: number) => Array.from({ length: n }, (_, k) => rowParams(update(id(from + k, t0), t0 + from + k)));
    const write = (all: ReturnType<typeof rowParams>[]) => {
      for (let b = 0; b < all.length; b += BATCH) run(all.slice(b, b + BATCH));
    };
    write(make(0, prefill));
    db.pragma('wal_checkpoint(TRUNCATE)');
    const measured = make(prefill, rows);
    const before = process.cpuUsage();
    write(measured);
    const cpu = process.cpuUsage(before);
    db.close();
    return { cpuUs: (cpu.user + cpu.system) / rows };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| visitor ids | rows already stored | CPU µs per new row |`);
console.log(`|---|---:|---:|`);
for (const prefill of prefills) {
  for (const scheme of Object.keys(schemes) as (keyof typeof schemes)[]) {
    const runs = [];
    for (let r = 0; r < ROUNDS; r++) runs.push(await measure(scheme, prefill));
    console.log(`| ${scheme} | ${prefill.toLocaleString('en')} | ${med(runs.map((x) => x.cpuUs)).toFixed(1)} |`);
  }
}
