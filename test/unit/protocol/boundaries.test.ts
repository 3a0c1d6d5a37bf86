/**
 * protocol/ is the only home of what crosses a process boundary: no source file outside it writes
 * a numeric close code (in a close/end call, a comparison or a set of codes) or a socket path.
 * Comments may mention them; code must import them from protocol/.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const SOURCE_DIRS = ['relay', 'client', 'agent-viewer', 'delete-page', 'scripts'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|html)$/.test(e.name) ? [p] : [];
  });
}

/** Block comments, and line comments that start a line or follow whitespace (not `http://`). */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
}

const CODE = String.raw`(?:1\d{3}|4\d{3})`;
const RULES: Array<[string, RegExp]> = [
  ['close code in a close/end call', new RegExp(String.raw`\.(?:close|end)\(\s*${CODE}\b`)],
  ['close code compared', new RegExp(String.raw`\bcode\s*[!=]==?\s*${CODE}\b|\b${CODE}\s*[!=]==?\s*[\w.]*code\b`, 'i')],
  ['set of close codes', new RegExp(String.raw`new Set\(\[\s*${CODE}\b`)],
  ['socket path', /(?<!\/api)\/v1\/(?:visitor|agent)(?![\w-])/],
];

export function violations(src: string): string[] {
  const code = stripComments(src);
  return RULES.filter(([, re]) => re.test(code)).map(([what]) => what);
}

t.test('the detector catches each kind (so a clean scan means something)', async (t) => {
  t.same(violations('ws.close(4004);'), ['close code in a close/end call']);
  t.same(violations('ws.end(1012, "x")'), ['close code in a close/end call']);
  t.same(violations('if (ev.code === 4001) x()'), ['close code compared']);
  t.same(violations('if (1012 !== code) x()'), ['close code compared']);
  t.same(violations('const FINAL = new Set([4000, 4004]);'), ['set of close codes']);
  t.same(violations("new WebSocket(`${base}/v1/agent`)"), ['socket path']);
  t.same(violations("app.ws('/v1/visitor', b)"), ['socket path']);
  t.same(violations("fetch(`/v1/visitor/check?${q}`)"), ['socket path']);
  t.same(violations('// closes with 4004 at /v1/visitor\n/** ws.close(4004) */'), [], 'comments are free');
  t.same(violations('setTimeout(f, 1000); x.code === 404'), [], 'other numbers are not close codes');
  t.same(violations("post('/api/v1/agent-tokens', h)"), [], 'REST paths are not socket paths');
});

t.test('no close code or socket path is written outside protocol/', async (t) => {
  const files = SOURCE_DIRS.flatMap((d) => sourceFiles(path.join(ROOT, d)));
  t.ok(files.length > 50, `${files.length} source files scanned`);
  const found = files.flatMap((f) => violations(fs.readFileSync(f, 'utf8')).map((v) => `${path.relative(ROOT, f)}: ${v}`));
  t.same(found, [], 'import them from protocol/ instead');
});
