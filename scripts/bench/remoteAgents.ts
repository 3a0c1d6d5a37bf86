/** The parent's handle on scripts/bench/agentHost.ts: agents living in a second generator process. */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import type { Dialect, Sink } from './load.ts';

export interface AgentStatus {
  index: number;
  expected: number;
  received: number;
  gaps: number;
  outOfOrder: number;
  resyncs: number;
  closeCode: number | null;
}

export type HostRequest =
  | { type: 'connect'; id: number; port: number; tokens: string[]; indices: number[]; visitorId: string; dialect: Dialect }
  | { type: 'start'; id: number; progressEvery: number }
  | { type: 'status'; id: number }
  | { type: 'collect'; id: number }
  | { type: 'close'; id: number }
  | { type: 'exit' };

export interface Collected {
  type: 'collected';
  id: number;
  agents: AgentStatus[];
  deliveries: number;
  bytes: number;
  firstRecvAt: number;
  lastRecvAt: number;
  fromScheduled: string;
  fromSent: string;
  cpuUs: number;
}

export type HostReply =
  | { type: 'hello' }
  | { type: 'connected' | 'started' | 'closed'; id: number }
  | { type: 'status'; id: number; agents: AgentStatus[] }
  | Collected
  | { type: 'progress'; index: number; expected: number }
  | { type: 'error'; id: number; message: string };

/** What the phase runner reads about a remote agent; kept current by progress and status replies. */
export interface RemoteView {
  index: number;
  expected: number;
  closeCode: number | undefined;
  resyncs: number;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

const HERE = path.dirname(fileURLToPath(import.meta.url));

export class AgentHost {
  private nextId = 1;
  private waiting = new Map<number, { resolve: (m: HostReply) => void; reject: (e: Error) => void }>();
  views: RemoteView[] = [];
  onProgress: (() => void) | undefined;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: HostReply) => {
      if (m.type === 'progress') {
        const v = this.views.find((x) => x.index === m.index);
        if (v && m.expected > v.expected) v.expected = m.expected;
        this.onProgress?.();
        return;
      }
      if (m.type === 'hello') return;
      if (m.type === 'status' || m.type === 'collected') this.update(m.agents);
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.type === 'error') w.reject(new Error(`agent host: ${m.message}`));
      else w.resolve(m);
    });
    child.on('exit', () => {
      for (const w of this.waiting.values()) w.reject(new Error('agent host exited'));
      this.waiting.clear();
    });
  }

  static async start(): Promise<AgentHost> {
    const child = fork(path.join(HERE, 'agentHost.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('agent host did not start in 20 s')), 20_000);
      child.once('message', () => {
        clearTimeout(t);
        resolve();
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`agent host exited (${code})`));
      });
    });
    return new AgentHost(child);
  }

  private request<T extends HostReply>(m: WithoutId<Exclude<HostRequest, { type: 'exit' }>>, timeoutMs = 10_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`agent host did not answer ${m.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(t);
          resolve(r as T);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.child.send({ ...m, id });
    });
  }

  private update(agents: AgentStatus[]): void {
    for (const s of agents) {
      const v = this.views.find((x) => x.index === s.index);
      if (!v) continue;
      v.expected = Math.max(v.expected, s.expected);
      v.closeCode = s.closeCode ?? undefined;
      v.resyncs = s.resyncs;
    }
  }

  async connect(port: number, tokens: string[], indices: number[], visitorId: string, dialect: Dialect = 'plain'): Promise<void> {
    this.views = indices.map((index) => ({ index, expected: 0, closeCode: undefined, resyncs: 0 }));
    await this.request({ type: 'connect', port, tokens, indices, visitorId, dialect });
  }

  /** Starts counting; with progressEvery > 0 the host reports each agent's position every that many frames. */
  async begin(progressEvery: number): Promise<void> {
    await this.request({ type: 'start', progressEvery });
  }

  async refresh(): Promise<void> {
    await this.request({ type: 'status' });
  }

  /** Stops counting and merges the host's figures into `sink`. */
  async collect(sink: Sink): Promise<{ agents: AgentStatus[]; cpuUs: number }> {
    const c = await this.request<Collected>({ type: 'collect' });
    sink.deliveries += c.deliveries;
    sink.bytes += c.bytes;
    if (c.firstRecvAt && (!sink.firstRecvAt || c.firstRecvAt < sink.firstRecvAt)) sink.firstRecvAt = c.firstRecvAt;
    if (c.lastRecvAt > sink.lastRecvAt) sink.lastRecvAt = c.lastRecvAt;
    sink.fromScheduled.add(hdr.decodeFromCompressedBase64(c.fromScheduled));
    sink.fromSent.add(hdr.decodeFromCompressedBase64(c.fromSent));
    return { agents: c.agents, cpuUs: c.cpuUs };
  }

  async close(): Promise<void> {
    this.views = [];
    this.onProgress = undefined;
    await this.request({ type: 'close' });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    if (this.child.connected) this.child.send({ type: 'exit' } satisfies HostRequest);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
