/**
 * The relay exactly as `npm start` runs it (`relay/main.ts` in its own process: embedded store,
 * demo account, printed links), for end-to-end tests. Agent tokens are minted the way a
 * customer's backend would: `POST /api/v1/agent-tokens` with the demo account's secret key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { API_PREFIX } from '../../protocol/endpoints.ts';

export interface NpmStartRelay {
  base: string;
  port: number;
  dataDir: string;
  /** The agent sign-in link it printed. */
  agentLink: string;
  /** Everything it printed to the terminal (stderr) up to the link block's end. */
  banner: string;
  /** The demo account's secret key (printed once, on the first start of a data dir). */
  secretKey: string;
  mint(agentId: string, name: string): Promise<string>;
  /** SIGTERM, as an operator would; resolves when the process has exited. */
  stop(): Promise<void>;
}

export async function startNpmRelay(port: number, reuse?: { dataDir: string; secretKey: string }): Promise<NpmStartRelay> {
  const base = `http://127.0.0.1:${port}`;
  const dataDir = reuse?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-npmstart-'));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'relay/main.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, PUBLIC_URL: base, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  const printed = await new Promise<{ link: string; secret?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no agent link:\n${stderr}`)), 20_000);
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const link = /Agent viewer:\s+(\S+)/.exec(stderr)?.[1];
      // The secret line follows the link in the same block; wait for the block's end.
      if (link && /\n\s*\n$|Demo secret key[^\n]*\n/.test(stderr)) {
        clearTimeout(timer);
        resolve({ link, secret: /Demo secret key[^:]*:\s+(\S+)/.exec(stderr)?.[1] });
      }
    });
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}):\n${stderr}`)));
  });
  const secretKey = printed.secret ?? reuse?.secretKey;
  if (!secretKey) throw new Error('no demo secret key: start a fresh data dir first');
  return {
    base,
    port,
    dataDir,
    agentLink: printed.link,
    banner: stderr,
    secretKey,
    async mint(agentId, name) {
      const res = await fetch(`${base}${API_PREFIX}/agent-tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agentId, name }),
      });
      if (res.status !== 201) throw new Error(`minting a token: HTTP ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
