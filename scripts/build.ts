/** Bundles the embed script and the agent viewer into dist/public, which the relay serves. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist/public');

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'agent'), { recursive: true });
fs.mkdirSync(path.join(out, 'demo'), { recursive: true });
fs.mkdirSync(path.join(out, 'delete'), { recursive: true });

const common: BuildOptions = { bundle: true, minify: true, format: 'iife', target: ['chrome100', 'firefox100', 'safari15'], legalComments: 'none', logLevel: 'warning' };
await build({ ...common, entryPoints: [path.join(root, 'client/embed.ts')], outfile: path.join(out, 'embed.js') });
// The agent viewer (/agent/): one script, one stylesheet (its own plus rrweb's Replayer CSS), no inline code (strict CSP).
await build({ ...common, entryPoints: [path.join(root, 'agent-viewer/viewer.ts')], outfile: path.join(out, 'agent/viewer.js') });
// Its frame decoder worker: inflates and parses frames off the UI thread, same origin (CSP worker-src 'self').
await build({ ...common, entryPoints: [path.join(root, 'agent-viewer/decode.worker.ts')], outfile: path.join(out, 'agent/decode.worker.js') });
await build({ ...common, entryPoints: [path.join(root, 'agent-viewer/viewer.css')], outfile: path.join(out, 'agent/viewer.css') });
fs.copyFileSync(path.join(root, 'agent-viewer/index.html'), path.join(out, 'agent/index.html'));
// The demo customer page, its images, and its web font (Inter, from the @fontsource/inter devDependency;
// without it the page falls back to the system font).
fs.cpSync(path.join(root, 'scripts/demo-site'), path.join(out, 'demo'), { recursive: true });
fs.mkdirSync(path.join(out, 'demo/fonts'), { recursive: true });
for (const w of ['400', '700']) {
  const font = path.join(root, `node_modules/@fontsource/inter/files/inter-latin-${w}-normal.woff2`);
  if (fs.existsSync(font)) fs.copyFileSync(font, path.join(out, `demo/fonts/inter-${w}.woff2`));
}
// The delete-visitor-data page (/delete/): no inline script or style, its CSP allows only 'self'.
await build({ ...common, entryPoints: [path.join(root, 'delete-page/delete.ts')], outfile: path.join(out, 'delete/delete.js') });
fs.copyFileSync(path.join(root, 'delete-page/index.html'), path.join(out, 'delete/index.html'));
fs.copyFileSync(path.join(root, 'delete-page/delete.css'), path.join(out, 'delete/delete.css'));
