/**
 * `npx tsx scripts/bench/storeRows.ts [rows] [prefill...]`: what a visitor's row costs the SQLite
 * store, with the relay's own schema, upsert, batches and writer pragmas (relay/store/sqliteVisitorWriter.ts):
 * - a new visitor, for ids as issued now (creation second first: relay/auth/visitorToken.ts) and as
 *   issued before (16 random characters), at a simulated 2,000 new visitors a second, so that rows of
 *   one batch share a few seconds, as in a relay;
 * - a returning visitor (an update of a random stored row: connects and the minute's heartbeat).
 * Prints CPU µs per row, medians of 3.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { visitorIdAt } from '../../relay/auth/visitorToken.ts';
import { SqliteStore } from '../../relay/store/sqlite.ts';
import { rowParams, UPSERT_VISITOR_SQL, WRITER_PRAGMAS } from '../../relay/store/sqliteVisitorWriter.ts';
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
type Scheme = keyof typeof schemes;

function update(visitorId: string, at: number): VisitorUpdate {
  return { accountId: 'acc_bench', visitorId, lastSeen: new Date(at), ip: '127.0.0.1', tombstoneKey: crypto.createHash('sha256').update(visitorId).digest('base64url') };
}

/** `returning`: the measured rows update stored visitors (in random order) instead of adding new ones. */
async function measure(scheme: Scheme, prefill: number, returning: boolean): Promise<{ cpuUs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-rows-'));
  try {
    await new SqliteStore(dir).close(); // the relay's schema and migrations
    const file = path.join(dir, 'cobrowse.sqlite');
    const db = new Database(file);
    for (const p of WRITER_PRAGMAS) db.pragma(p);
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
    const stored = make(0, prefill);
    write(stored);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const later = t0 + prefill + rows;
    // Returning: stored visitors in shuffled passes (a pass is a multiple of BATCH), so no batch holds
    // a visitor twice, as the write-behind coalesces per visitor; a repeat would find its pages cached.
    const measured = returning
      ? shuffledPasses(stored, rows).map((r, k) => ({ ...r, lastSeen: later + k }))
      : make(prefill, rows);
    const before = process.cpuUsage();
    write(measured);
    const cpu = process.cpuUsage(before);
    db.close();
    return { cpuUs: (cpu.user + cpu.system) / rows };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `n` of the stored rows, in shuffled passes over all of them (each pass a fresh random order). */
function shuffledPasses<T>(stored: T[], n: number): T[] {
  const out: T[] = [];
  while (out.length < n) {
    const pass = [...stored];
    for (let i = pass.length - 1; i > 0; i--) {
      const j = crypto.randomInt(i + 1);
      [pass[i], pass[j]] = [pass[j], pass[i]];
    }
    for (const r of pass) out.push(r); // not push(...pass): 200,000 arguments overflow the stack
  }
  return out.slice(0, n);
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const row = async (what: string, scheme: Scheme, prefill: number, returning: boolean) => {
  const runs = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(await measure(scheme, prefill, returning));
  console.log(`| ${what} | ${scheme} | ${prefill.toLocaleString('en')} | ${med(runs.map((x) => x.cpuUs)).toFixed(1)} |`);
};
console.log(`| row | visitor ids | rows already stored | CPU µs per row |`);
console.log(`|---|---|---:|---:|`);
for (const prefill of prefills) {
  for (const scheme of Object.keys(schemes) as Scheme[]) await row('new visitor', scheme, prefill, false);
  await row('returning visitor (update)', 'time-ordered (now)', prefill, true);
}
