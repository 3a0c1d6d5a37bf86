/**
 * Loopback servers that count every request and connection they receive: what a hostile page
 * would like the agent's browser to reach. https ones use a self-signed certificate made at test
 * time with the openssl CLI (Chromium runs with --ignore-certificate-errors, so a request that
 * policy allowed would really be made, and counted).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export function selfSignedCert(): { key: Buffer; cert: Buffer } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// A 1×1 GIF: what an image request gets back.
const GIF = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

export class CountingListener {
  readonly hits: string[] = [];
  connections = 0;
  port = 0;
  private waiters: Array<{ path: string; resolve: () => void }> = [];
  private readonly server: http.Server;

  constructor(readonly scheme: 'http' | 'https', tls?: { key: Buffer; cert: Buffer }) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const p = req.url ?? '';
      this.hits.push(p);
      this.waiters = this.waiters.filter((w) => (p.startsWith(w.path) ? (w.resolve(), false) : true));
      res.writeHead(200, { 'content-type': 'image/gif', 'access-control-allow-origin': '*' }).end(GIF);
    };
    this.server = scheme === 'https' ? https.createServer(tls!, handler) : http.createServer(handler);
    this.server.on('connection', () => this.connections++);
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '::', r)); // dual stack: 127.0.0.1, ::1, localhost
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(p: string, host = '127.0.0.1'): string {
    return `${this.scheme}://${host}:${this.port}/${p}`;
  }

  get origin(): string {
    return `${this.scheme}://127.0.0.1:${this.port}`;
  }

  /** Resolves when a request whose path starts with `/p` has arrived (or already has). */
  waitFor(p: string, timeout = 10_000): Promise<void> {
    const want = `/${p}`;
    if (this.hits.some((h) => h.startsWith(want))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no request for ${want} on ${this.origin} (got ${JSON.stringify(this.hits)})`)), timeout);
      this.waiters.push({ path: want, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
