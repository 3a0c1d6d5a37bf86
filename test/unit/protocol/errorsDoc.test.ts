/**
 * The one error table (protocol/errors.ts) and docs/protocol.md say the same thing, both ways:
 * every close code and HTTP error is documented with its code and reason, and every row of the
 * documented tables exists in the table (fastify tests its error codes against its docs likewise).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Close, HttpError } from '../../../protocol/errors.ts';

const doc = fs.readFileSync(path.resolve(import.meta.dirname, '../../../docs/protocol.md'), 'utf8');

/** Rows `| <number> | \`<name>\` | … |` of the markdown tables. */
function rows(): Array<[number, string]> {
  return [...doc.matchAll(/^\|\s*(\d{3,4})\s*\|\s*`([a-z_]+)`\s*\|/gm)].map((m) => [Number(m[1]), m[2]]);
}
/** Codes the socket layer uses itself (uWS's 1006 cut-off): documented, never sent by the relay. */
const SOCKET_LAYER_ONLY = [...doc.matchAll(/^\|\s*(\d{4})\s*\|\s*\(none\)/gm)].map((m) => Number(m[1]));

const closeRows = () => rows().filter(([n]) => n >= 1000);
const httpRows = () => rows().filter(([n]) => n < 1000);

t.test('every close code in the table is documented with its reason', async (t) => {
  for (const [name, { code, reason }] of Object.entries(Close)) {
    t.ok(closeRows().some(([n, r]) => n === code && r === reason), `Close.${name}: ${code} ${reason}`);
  }
});

t.test('every documented close code is in the table', async (t) => {
  t.ok(closeRows().length >= 8, 'the close-code table was found');
  for (const [n, r] of closeRows()) {
    t.ok(Object.values(Close).some((c) => c.code === n && c.reason === r), `${n} ${r}`);
  }
  t.same(SOCKET_LAYER_ONLY, [1006], 'the only undocumented-reason row is the socket layer\'s 1006');
});

t.test('every HTTP error is documented with its status, and every documented one is in the table', async (t) => {
  for (const [name, { status, code }] of Object.entries(HttpError)) {
    t.ok(httpRows().some(([s, c]) => s === status && c === code), `HttpError.${name}: ${status} ${code}`);
  }
  t.ok(httpRows().length >= 15, 'the HTTP table was found');
  for (const [s, c] of httpRows()) {
    t.ok(Object.values(HttpError).some((e) => e.status === s && e.code === c), `${s} ${c}`);
  }
});

t.test('no two entries share a code with different meanings', async (t) => {
  const closeCodes = Object.values(Close).map((c) => c.code);
  t.equal(new Set(closeCodes).size, closeCodes.length, 'close codes are unique');
  const httpPairs = Object.values(HttpError).map((e) => `${e.status} ${e.code}`);
  t.equal(new Set(httpPairs).size, httpPairs.length, 'HTTP (status, code) pairs are unique');
});
