/**
 * Static files built by `npm run build` into dist/public: the embed script, the agent
 * viewer and the demo page. Loaded into memory once; served with ETag and cache headers.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { statusLine } from './respond.ts';

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  cache: string;
  /** The page's own CSP (from its `<meta>`), also sent as a header so `frame-ancestors` applies. */
  csp?: string;
}

const CSP_META = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i;

function cspOf(html: string): string | undefined {
  const policy = CSP_META.exec(html)?.[1];
  return policy ? `${policy.replace(/;\s*$/, '')}; frame-ancestors 'none'` : undefined;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

export class StaticFiles {
  private files = new Map<string, StaticFile>();

  /** `templateVars` are substituted into HTML files as `{{name}}`. */
  constructor(root: string, templateVars: Record<string, string> = {}) {
    if (!fs.existsSync(root)) return;
    for (const rel of fs.readdirSync(root, { recursive: true }) as string[]) {
      const abs = path.join(root, rel);
      if (!fs.statSync(abs).isFile()) continue;
      const ext = path.extname(rel);
      let body = fs.readFileSync(abs);
      if (ext === '.html') {
        body = Buffer.from(body.toString('utf8').replace(/\{\{(\w+)\}\}/g, (m, k: string) => templateVars[k] ?? m));
      }
      const urlPath = '/' + rel.split(path.sep).join('/');
      this.files.set(urlPath, {
        body,
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`,
        // The embed script is fetched by every customer page: cache it, but let deploys roll out within minutes.
        cache: ext === '.html' ? 'no-cache' : 'public, max-age=300, stale-while-revalidate=3600',
        csp: ext === '.html' ? cspOf(body.toString('utf8')) : undefined,
      });
    }
  }

  private resolve(urlPath: string): string {
    return urlPath.endsWith('/') ? urlPath + 'index.html' : urlPath;
  }

  /** Serves the file if there is one; false otherwise. */
  serve(res: HttpResponse, req: HttpRequest): boolean {
    const f = this.files.get(this.resolve(req.getUrl()));
    if (!f) return false;
    const inm = req.getHeader('if-none-match');
    res.cork(() => {
      if (etagMatches(inm, f.etag)) {
        res.writeStatus(statusLine(304)).writeHeader('etag', f.etag).end();
        return;
      }
      res.writeStatus(statusLine(200));
      res.writeHeader('content-type', f.type);
      res.writeHeader('etag', f.etag);
      res.writeHeader('cache-control', f.cache);
      res.writeHeader('x-content-type-options', 'nosniff');
      if (f.type.startsWith('text/html')) {
        res.writeHeader('referrer-policy', 'no-referrer');
        res.writeHeader('x-frame-options', 'DENY');
        if (f.csp) res.writeHeader('content-security-policy', f.csp);
      }
      res.end(f.body);
    });
    return true;
  }
}

/** RFC 9110 If-None-Match: `*`, or a list of tags compared weakly (a `W/` prefix is ignored). */
export function etagMatches(header: string, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === bare);
}
