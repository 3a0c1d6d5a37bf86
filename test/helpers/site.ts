/**
 * A customer's website for browser tests: serves test/fixtures/site/ on its own loopback origin
 * (the relay is another origin, as in production), under a strict Content-Security-Policy.
 * `{{relay}}` and `{{key}}` in HTML files are filled in per request.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/site');
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

export interface Site {
  origin: string;
  /** Set once the relay is up (its port is known only then). */
  relay: string;
  key: string;
  close(): Promise<void>;
}

/** The policy the docs tell customers to set: no inline script or style, the relay allowed for script and connect. */
export function strictCsp(relay: string): string {
  const ws = relay.replace(/^http/, 'ws');
  return [
    "default-src 'none'",
    `script-src 'self' ${relay}`,
    `connect-src 'self' ${relay} ${ws}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

export async function startSite(): Promise<Site> {
  const site: Site = { origin: '', relay: '', key: '', close: async () => {} };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const file = path.join(ROOT, path.normalize(url.pathname === '/' ? '/index.html' : url.pathname));
    if (!file.startsWith(ROOT) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const ext = path.extname(file);
    let body: string | Buffer = fs.readFileSync(file);
    if (ext === '.html') body = body.toString('utf8').replaceAll('{{relay}}', site.relay).replaceAll('{{key}}', site.key);
    res.writeHead(200, { 'content-type': TYPES[ext] ?? 'application/octet-stream', 'content-security-policy': strictCsp(site.relay), 'cache-control': 'no-store' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  site.origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  site.close = () => new Promise((r) => server.close(() => r()));
  return site;
}
