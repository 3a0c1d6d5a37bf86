/** A relay under test running as a forked child (`--import tsx`), driven over IPC. */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParentToRelay, RelayReady, RelayStats, RelayToParent } from './ipc.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** `uws`: ours. `uws-bare`: the floor (bare uWebSockets.js publish relay). `ws-baseline`, `socketio`: references. */
export type Impl = 'uws' | 'uws-bare' | 'ws-baseline' | 'socketio';

const ENTRY: Record<Impl, string> = {
  uws: path.join(HERE, 'relayChild.ts'),
  'uws-bare': path.join(HERE, 'bareUwsRelay.ts'),
  socketio: path.join(HERE, 'socketIoRelay.ts'),
  'ws-baseline': path.join(HERE, 'wsBaselineRelay.ts'),
};

export class RelayHandle {
  private nextId = 1;
  private waiting = new Map<number, (s: RelayStats) => void>();
  private exited: Promise<void>;
  stderr = '';

  private constructor(
    readonly impl: Impl,
    readonly child: ChildProcess,
    readonly info: RelayReady,
  ) {
    child.on('message', (m: RelayToParent) => {
      if (m.type === 'stats') {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        w?.(m);
      }
    });
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  /** `readyMs`: how long the child may take to be ready (a cluster relay restarted with many others waits on NATS). */
  static async start(impl: Impl, env: Record<string, string> = {}, o: { nofile?: number; readyMs?: number } = {}): Promise<RelayHandle> {
    const readyMs = o.readyMs ?? 20_000;
    const child = fork(ENTRY[impl], [], {
      // BENCH_RELAY_NODE_ARGS: extra node flags for the relay child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof";
      // BENCH_OURS_NODE_ARGS: for our relay only (a trial of a flag against an untouched floor).
      execArgv: ['--import', 'tsx', '--expose-gc', ...nodeArgs(process.env.BENCH_RELAY_NODE_ARGS), ...(impl === 'uws' ? nodeArgs(process.env.BENCH_OURS_NODE_ARGS) : [])],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    if (o.nofile) raiseNofile(child.pid!, o.nofile);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
      // Relay warnings and errors are worth seeing live.
      process.stderr.write(`[${impl}] ${d.toString()}`);
    });
    const ready = await new Promise<RelayReady>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${impl} relay did not become ready in ${readyMs / 1000} s\n${stderr}`));
      }, readyMs);
      child.on('message', (m: RelayToParent) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve(m);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${impl} relay exited before ready (code ${code}, signal ${signal})\n${stderr}`));
      });
    });
    const h = new RelayHandle(impl, child, ready);
    child.stderr?.on('data', (d: Buffer) => (h.stderr = (h.stderr + d.toString()).slice(-20_000)));
    return h;
  }

  get port(): number {
    return this.info.port;
  }

  stats(timeoutMs = 5000, gc = false): Promise<RelayStats> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.impl} relay did not answer a stats request in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      const msg: ParentToRelay = { type: 'stats', id, gc };
      this.child.send(msg);
    });
  }

  /** Asks the child to shut down; kills it if it has not exited in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.connected) {
      const msg: ParentToRelay = { type: 'exit' };
      this.child.send(msg);
    }
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * Raises a child's open-file limit (one descriptor per socket: 100,000 visitors need more than the
 * usual 20,000). Needs `prlimit` (util-linux) and the privilege to raise a hard limit (root).
 */
export function raiseNofile(pid: number, n: number): boolean {
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${n}:${n}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // not permitted here: the caller sizes the run to the limit it has
  }
}

/** This process's hard limit on open files (Linux), or Infinity when it cannot be read. */
export function nofileHardLimit(): number {
  try {
    const m = /Max open files\s+\S+\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}

function nodeArgs(flags: string | undefined): string[] {
  return (flags ?? '').split(' ').filter(Boolean);
}
