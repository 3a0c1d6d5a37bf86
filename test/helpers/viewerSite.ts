/**
 * Fixture pages for the viewer's tests (test/fixtures/viewer/), served on their own loopback
 * origin like a customer's site. `{{relay}}` and `{{key}}` in HTML are filled in per request.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/viewer');
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

export interface ViewerSite {
  origin: string;
  relay: string;
  key: string;
  close(): Promise<void>;
}

export async function startViewerSite(): Promise<ViewerSite> {
  const site: ViewerSite = { origin: '', relay: '', key: '', close: async () => {} };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const file = path.join(ROOT, path.normalize(url.pathname));
    if (!file.startsWith(ROOT + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const ext = path.extname(file);
    let body: string | Buffer = fs.readFileSync(file);
    if (ext === '.html') body = body.toString('utf8').replaceAll('{{relay}}', site.relay).replaceAll('{{key}}', site.key);
    res.writeHead(200, { 'content-type': TYPES[ext] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  site.origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  site.close = () => new Promise((r) => server.close(() => r()));
  return site;
}
