/** Real `ws` clients for the relay's visitor and agent sockets, with waitable inboxes. */
import WebSocket from 'ws';
import { AGENT_SOCKET_PATH, agentProtocols, VISITOR_SOCKET_PATH } from '../../protocol/endpoints.ts';
import { SITE_ORIGIN } from './relay.ts';

export type Msg = { t: string; [k: string]: any };

export class TestSocket {
  readonly texts: Msg[] = [];
  readonly frames: Buffer[] = [];
  /** Text and binary messages in arrival order. */
  readonly events: Array<{ text?: Msg; frame?: Buffer }> = [];
  closeInfo?: { code: number; reason: string };
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const frame = Buffer.from(data as Buffer);
        this.frames.push(frame);
        this.events.push({ frame });
      } else {
        const text = JSON.parse(String(data)) as Msg;
        this.texts.push(text);
        this.events.push({ text });
      }
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    ws.on('error', () => {});
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `check` returns a value, or rejects after `ms`. */
  async until<T>(check: () => T | undefined | false, ms = 5000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = check();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  /** Waits for a text message of type `t` (optionally matching), returning it. */
  next(t: string, ms = 5000, match: (m: Msg) => boolean = () => true): Promise<Msg> {
    return this.until(() => this.texts.find((m) => m.t === t && match(m)), ms, `message ${t}`);
  }

  has(t: string): boolean {
    return this.texts.some((m) => m.t === t);
  }

  send(m: Msg | string): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  sendFrame(buf: Uint8Array): void {
    this.ws.send(buf, { binary: true });
  }

  close(): void {
    this.ws.close();
  }

  /** Stops reading from the socket (TCP backpressure builds up at the relay). */
  pauseReading(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resumeReading(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }
}

function open(url: string, opts: WebSocket.ClientOptions, protocols?: string[]): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    const s = new TestSocket(ws);
    ws.once('open', () => resolve(s));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      // ws leaves a refused handshake's socket open once we listen for this event: the process would
      // then wait for the relay's 10 s idle timeout before it could exit. Node has marked the request
      // done by 'end' (req.destroy() is then a no-op), so the socket itself is closed.
      const socket = req.socket;
      res.on('end', () => socket?.destroy());
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: safeJson(body) })));
    });
    ws.once('error', reject);
  });
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

type VisitorConnectOptions = { origin?: string; query?: Record<string, string>; headers?: Record<string, string> };

export async function connectVisitor(port: number, publicKey: string, opts: VisitorConnectOptions = {}): Promise<{ sock: TestSocket; welcome: Msg }> {
  const sock = await openVisitor(port, publicKey, opts);
  const welcome = await sock.next('welcome');
  return { sock, welcome };
}

/**
 * Like connectVisitor, but a connect admission sheds (`error try_again_later`, then 4503) resolves to
 * its retry-after instead of timing out: for loops that connect from one address as fast as they can.
 */
export async function connectVisitorUnlessShed(port: number, publicKey: string, opts: VisitorConnectOptions = {}): Promise<{ sock: TestSocket; welcome: Msg } | { shedMs: number }> {
  const sock = await openVisitor(port, publicKey, opts);
  const first = await sock.until(() => sock.texts.find((m) => m.t === 'welcome' || (m.t === 'error' && m.code === 'try_again_later')), 5000, 'welcome or try_again_later');
  return first.t === 'welcome' ? { sock, welcome: first } : { shedMs: Number(first.retryAfterMs) };
}

function openVisitor(port: number, publicKey: string, opts: VisitorConnectOptions): Promise<TestSocket> {
  const q = new URLSearchParams({ key: publicKey, ...opts.query });
  return open(`ws://127.0.0.1:${port}${VISITOR_SOCKET_PATH}?${q}`, { headers: { origin: opts.origin ?? SITE_ORIGIN, ...opts.headers } });
}

export async function connectAgent(
  port: number,
  token: string,
  opts: { origin?: string; path?: string; protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<TestSocket> {
  const sock = await open(
    `ws://127.0.0.1:${port}${opts.path ?? AGENT_SOCKET_PATH}`,
    { headers: { ...(opts.origin ? { origin: opts.origin } : {}), ...opts.headers } },
    opts.protocols ?? agentProtocols(token),
  );
  await sock.next('ready');
  return sock;
}

/** Expects the upgrade to be refused; returns status and JSON body. */
export async function refused(p: Promise<unknown>): Promise<{ status: number; body: any }> {
  try {
    await p;
  } catch (err) {
    const e = err as { status?: number; body?: unknown };
    if (e.status) return { status: e.status, body: e.body };
    throw err;
  }
  throw new Error('expected the upgrade to be refused, but it opened');
}

/** A frame: kind byte, then a 4-byte sequence number, then filler. */
export function frame(kind: number, seq: number, size: number, fill = 0x61): Buffer {
  const b = Buffer.alloc(Math.max(size, 5), fill);
  b[0] = kind;
  b.writeUInt32BE(seq, 1);
  return b;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Round-trip barriers, instead of "wait a while, then check nothing arrived". The relay handles a
 * socket's messages in order and sends synchronously (frames too: uWS publish), and each socket's
 * stream is ordered; so once a request's answer is back, everything the relay did for earlier
 * messages on that socket is done, and everything it sent earlier on that socket has arrived.
 */

/** The relay has handled everything this visitor sent before (answered `code-request`; it also sets a lookup code). */
export async function visitorBarrier(v: TestSocket, ms = 5000): Promise<void> {
  const before = v.texts.filter((m) => m.t === 'code').length;
  v.send({ t: 'code-request' });
  await v.until(() => v.texts.filter((m) => m.t === 'code').length > before, ms, 'the code-request barrier');
}

/**
 * Everything the relay sent this agent so far has arrived. Sends a `click`, which the relay refuses
 * with an `error` and no other effect when the agent watches nobody (`not_in_session`) or watches
 * without control (`control_not_granted`). Not for an agent holding control (the click would go
 * through to the visitor: the barrier then times out rather than pass).
 */
export async function agentBarrier(a: TestSocket, ms = 5000): Promise<void> {
  const errors = () => a.texts.filter((m) => m.t === 'error' && (m.code === 'not_in_session' || m.code === 'control_not_granted')).length;
  const before = errors();
  a.send({ t: 'click', x: 0, y: 0 });
  await a.until(() => errors() > before, ms, 'the agent barrier');
}
