/**
 * The layers of docs/architecture.md, checked on the source: protocol/ imports nothing outside
 * itself; client/, agent-viewer/ and delete-page/ import protocol/ and nothing of each other or of relay/; the
 * relay's transports (http/, sockets/) call services and never touch the store or the write-behind;
 * sessions/publish.ts is the only writer of a tab's topic.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(import.meta.dirname, '../..');

function files(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return files(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** [specifier, type-only] of every import/export-from in a file. */
function imports(file: string): Array<[string, boolean]> {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return [...src.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => [m[3], !!m[2]]);
}

const resolved = (file: string, spec: string) => (spec.startsWith('.') ? path.join(path.dirname(file), spec) : spec);
const top = (p: string) => p.split(path.sep)[0];

const stripComments = (src: string) => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');

export function layerViolations(file: string, specs: Array<[string, boolean]>, source = ''): string[] {
  const out: string[] = [];
  const layer = top(file);
  for (const [spec, typeOnly] of specs) {
    const target = resolved(file, spec);
    const targetTop = spec.startsWith('.') ? top(target) : undefined;
    if (layer === 'protocol' && targetTop !== 'protocol') out.push(`${file} imports ${spec}`);
    if (['client', 'agent-viewer', 'delete-page'].includes(layer) && targetTop && !['protocol', layer].includes(targetTop)) out.push(`${file} imports ${spec}`);
    const transport = /^relay[\\/](http|sockets)[\\/]/.test(file);
    if (transport && /^relay[\\/]store[\\/]/.test(target) && !typeOnly && !target.endsWith('cursor.ts')) out.push(`${file} imports ${spec}`);
  }
  if (/^relay[\\/]/.test(file) && !/publish\.ts$/.test(file) && /\bapp\.publish\(/.test(stripComments(source))) out.push(`${file} writes a topic outside sessions/publish.ts`);
  if (/^relay[\\/](http|sockets)[\\/]/.test(file)) {
    const code = stripComments(source).replace(/^\s*import\s.*$/gm, '');
    if (/\bctx\.store\b|\{[^}]*\bstore\b[^}]*\}\s*=\s*ctx|\bstore\.\w+\(/.test(code)) out.push(`${file} touches the store`);
    if (/\.writer\b/.test(code)) out.push(`${file} touches the metadata write-behind`);
  }
  return out;
}

t.test('the checker catches each kind', async (t) => {
  t.same(layerViolations('protocol/x.ts', [['../relay/log.ts', false]]), ['protocol/x.ts imports ../relay/log.ts']);
  t.same(layerViolations('protocol/x.ts', [['pino', false]]), ['protocol/x.ts imports pino'], 'no packages in protocol/');
  t.same(layerViolations('client/x.ts', [['../agent-viewer/y.ts', false]]).length, 1);
  t.same(layerViolations('agent-viewer/a/x.ts', [['../../relay/y.ts', true]]).length, 1);
  t.same(layerViolations('client/x.ts', [['../protocol/y.ts', false], ['@rrweb/record', false]]), [], 'protocol and packages are fine');
  t.same(layerViolations('relay/http/x.ts', [['../store/sqlite.ts', false]]).length, 1);
  t.same(layerViolations('relay/http/x.ts', [['../store/types.ts', true]]), [], 'store types are fine');
  t.same(layerViolations('relay/http/x.ts', [], 'const { store } = ctx; await store.getVisitor(a, b);').length, 1);
  t.same(layerViolations('relay/http/x.ts', [], 'await ctx.metadata.writer.flush();'), ['relay/http/x.ts touches the metadata write-behind']);
  t.same(layerViolations('relay/http/x.ts', [], "header('cache-control', 'no-store')"), []);
  t.same(layerViolations('relay/sockets/x.ts', [], 'ctx.app.publish(tab.topic, message, true, false);'), ['relay/sockets/x.ts writes a topic outside sessions/publish.ts']);
  t.same(layerViolations('relay/sessions/publish.ts', [], 'this.app.publish(tab.topic, m, b, false);'), []);
});

t.test('every source file keeps to its layer', async (t) => {
  const all = ['protocol', 'client', 'agent-viewer', 'delete-page', 'relay'].flatMap(files);
  t.ok(all.length > 80, `${all.length} files checked`);
  const found = all.flatMap((f) => layerViolations(f, imports(f), fs.readFileSync(path.join(ROOT, f), 'utf8')));
  t.same(found, []);
});
