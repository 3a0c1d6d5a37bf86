/**
 * The realistic customer site for the fidelity test (test/fixtures/fidelity/), built from real
 * front-end packages served out of node_modules (no CDN: there is no internet here):
 *   /npm/<package>/<file>   a file of an allowed package (bootstrap, icons, fonts, chart.js, emotion)
 *   /bundle/<name>.js       test/fixtures/fidelity/<name>.entry.js bundled by esbuild (shoelace/lit)
 *   /img/<name>.png         a generated photo-like PNG (deterministic per name)
 *   anything else           a file of test/fixtures/fidelity/ (`{{relay}}`, `{{key}}` filled in)
 * Served over http or https (a self-signed certificate made with openssl at start), and meant to
 * be reached under a public-looking host name that Chromium maps to 127.0.0.1
 * (`--host-resolver-rules`), as a customer site is. Assets get no CORS headers, like most sites.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '../fixtures/fidelity');
const NODE_MODULES = path.join(HERE, '../../node_modules');
const PACKAGES = new Set(['bootstrap', 'bootstrap-icons', '@fontsource/inter', 'chart.js', '@emotion/css', '@shoelace-style/shoelace']);
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2', '.woff': 'font/woff', '.json': 'application/json',
};

export interface FidelitySite {
  /** e.g. `https://shop.example.com:4431`: reach it with the host mapped to 127.0.0.1. */
  origin: string;
  port: number;
  relay: string;
  key: string;
  close(): Promise<void>;
}

let bundles: Promise<Map<string, string>> | undefined;

/** Bundles every `*.entry.js` once per process (~1 s). */
function bundleAll(): Promise<Map<string, string>> {
  bundles ??= (async () => {
    const out = new Map<string, string>();
    for (const f of fs.readdirSync(ROOT).filter((f) => f.endsWith('.entry.js'))) {
      const r = await build({ entryPoints: [path.join(ROOT, f)], bundle: true, format: 'iife', write: false, minify: true, logLevel: 'silent', nodePaths: [NODE_MODULES] });
      out.set(f.replace(/\.entry\.js$/, ''), r.outputFiles[0].text);
    }
    return out;
  })();
  return bundles;
}

let cert: { key: Buffer; cert: Buffer } | undefined;

function selfSigned(host: string): { key: Buffer; cert: Buffer } {
  if (cert) return cert;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fidelity-cert-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`,
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  cert = { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) };
  fs.rmSync(dir, { recursive: true, force: true });
  return cert;
}

/** A photo-like PNG: smooth gradients and a few discs, seeded by the name. */
export function fakePhoto(name: string, width = 320, height = 200): Buffer {
  let seed = 0;
  for (const c of name) seed = (seed * 31 + c.charCodeAt(0)) >>> 0;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const base = [rnd() * 255, rnd() * 255, rnd() * 255];
  const discs = Array.from({ length: 5 }, () => ({ x: rnd() * width, y: rnd() * height, r: 20 + rnd() * 60, c: [rnd() * 255, rnd() * 255, rnd() * 255] }));
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      let px = [base[0] * (1 - y / height) + 40, base[1] * (x / width) + 30, base[2]];
      for (const d of discs) if ((x - d.x) ** 2 + (y - d.y) ** 2 < d.r ** 2) px = d.c;
      const o = y * (width * 3 + 1) + 1 + x * 3;
      raw[o] = px[0]; raw[o + 1] = px[1]; raw[o + 2] = px[2];
    }
  }
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

export async function startFidelitySite(opts: { secure: boolean; host: string }): Promise<FidelitySite> {
  const built = await bundleAll();
  const site: FidelitySite = { origin: '', port: 0, relay: '', key: '', close: async () => {} };
  const handler: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (body: string | Buffer, type: string, cache = 'no-cache') => {
      res.writeHead(200, { 'content-type': type, 'cache-control': cache });
      res.end(body);
    };
    const p = decodeURIComponent(url.pathname);
    if (p.startsWith('/img/') && p.endsWith('.png')) return send(fakePhoto(p.slice(5, -4)), 'image/png', 'max-age=3600');
    if (p.startsWith('/bundle/') && built.has(p.slice(8, -3))) return send(built.get(p.slice(8, -3))!, TYPES['.js']);
    let file: string | undefined;
    if (p.startsWith('/npm/')) {
      const rest = p.slice(5);
      const pkg = [...PACKAGES].find((name) => rest.startsWith(name + '/'));
      if (pkg) file = path.join(NODE_MODULES, path.normalize(rest));
      if (file && !file.startsWith(path.join(NODE_MODULES, pkg!) + path.sep)) file = undefined;
    } else {
      file = path.join(ROOT, path.normalize(p === '/' ? '/shop.html' : p));
      if (!file.startsWith(ROOT + path.sep)) file = undefined;
    }
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const ext = path.extname(file);
    let body: string | Buffer = fs.readFileSync(file);
    if (ext === '.html') body = body.toString('utf8').replaceAll('{{relay}}', site.relay).replaceAll('{{key}}', site.key);
    // Fonts, images and the frameworks' files cache like a CDN's; pages revalidate.
    send(body, TYPES[ext] ?? 'application/octet-stream', ext === '.html' ? 'no-cache' : 'max-age=3600');
  };
  const server = opts.secure ? https.createServer(selfSigned(opts.host), handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  site.port = (server.address() as { port: number }).port;
  site.origin = `${opts.secure ? 'https' : 'http'}://${opts.host}:${site.port}`;
  site.close = () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); });
  return site;
}
