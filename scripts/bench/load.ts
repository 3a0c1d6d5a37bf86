/**
 * The load generator's clients: one visitor that sends stamped binary frames, and agents
 * that time and sequence-check every frame they receive. Plain `ws` clients, loopback only.
 *
 * Frame layout (after the relay's own byte 0 = kind):
 *   [1..4]  u32 LE  sequence number (0, 1, 2, ... per session)
 *   [5..12] f64 LE  scheduled send time, ms (performance.timeOrigin + performance.now())
 *   [13..20] f64 LE actual send time, ms (same clock, taken just before ws.send)
 *   the rest: filler, opaque to the relay.
 */
import type { Socket } from 'node:net';
import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { AGENT_SOCKET_PATH, agentProtocols, Close, VISITOR_SOCKET_PATH } from '../../protocol/index.ts';
import { BENCH_ORIGIN } from './ipc.ts';

export const HEADER_BYTES = 21;
const HOST = '127.0.0.1';

/** Wall-clock ms with sub-µs resolution; comparable across processes on one machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export function newHistogram(): hdr.Histogram {
  // µs, 1 µs .. 10 min, 3 significant digits; the plain JS implementation.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Resolves with the first text message matching `t`, rejects on close/error. */
function awaitText(ws: WebSocket, t: string, ms: number): Promise<Record<string, unknown>> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const onMsg = (data: WebSocket.RawData, isBinary: boolean) => {
        if (isBinary) return;
        const msg = JSON.parse(data.toString()) as Record<string, unknown>;
        if (msg.t === t) {
          cleanup();
          resolve(msg);
        }
      };
      const onClose = (code: number, reason: Buffer) => {
        cleanup();
        reject(new Error(`socket closed (${code} ${reason.toString()}) while waiting for ${t}`));
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const onUnexpected = (_req: unknown, res: { statusCode?: number }) => {
        cleanup();
        reject(new Error(`upgrade refused with HTTP ${res.statusCode} while waiting for ${t}`));
      };
      const cleanup = () => {
        ws.off('message', onMsg);
        ws.off('close', onClose);
        ws.off('error', onError);
        ws.off('unexpected-response', onUnexpected);
      };
      ws.on('message', onMsg);
      ws.on('close', onClose);
      ws.on('error', onError);
      ws.on('unexpected-response', onUnexpected);
    }),
    ms,
    `waiting for "${t}"`,
  );
}

export class Visitor {
  visitorId = '';
  snapshotRequests = 0;
  private template: Buffer | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString().includes('"snapshot-request"')) this.snapshotRequests++;
    });
  }

  static async connect(port: number, publicKey: string): Promise<Visitor> {
    const ws = new WebSocket(`ws://${HOST}:${port}${VISITOR_SOCKET_PATH}?key=${encodeURIComponent(publicKey)}`, {
      origin: BENCH_ORIGIN,
      perMessageDeflate: false,
      maxPayload: 1024 * 1024,
    });
    const v = new Visitor(ws);
    const welcome = await awaitText(ws, 'welcome', 5000);
    v.visitorId = String(welcome.visitorId);
    return v;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /**
   * Sends one stamped frame of `size` bytes. One template buffer per size is reused:
   * ws masks client frames into a fresh buffer synchronously inside send(), so the template
   * is never retained.
   */
  send(kind: number, size: number, seq: number, scheduledMs: number): void {
    let buf = this.template;
    if (!buf || buf.length !== size) {
      buf = Buffer.alloc(size);
      for (let i = HEADER_BYTES; i < size; i++) buf[i] = (i * 31) & 0xff;
      this.template = buf;
    }
    buf[0] = kind;
    buf.writeUInt32LE(seq, 1);
    buf.writeDoubleLE(scheduledMs, 5);
    buf.writeDoubleLE(nowMs(), 13);
    this.ws.send(buf, { binary: true, compress: false });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(Close.normal.code);
  }
}

/** Where agents record; swapped between phases. */
export class Sink {
  /** latency = receive − scheduled send time, µs */
  readonly fromScheduled = newHistogram();
  /** latency = receive − actual send time, µs (excludes the generator's own lateness in sending) */
  readonly fromSent = newHistogram();
  deliveries = 0;
  bytes = 0;
  firstRecvAt = 0;
  lastRecvAt = 0;
}

export class Agent {
  sink: Sink | undefined;
  /** next expected sequence number */
  expected = 0;
  received = 0;
  gaps = 0;
  outOfOrder = 0;
  resyncs = 0;
  closeCode: number | undefined;
  closeReason = '';
  paused = false;
  lastRecvAt = 0;
  texts: string[] = [];
  /** Called after every received frame (the generator's in-flight window waits on it). */
  onFrameHook: (() => void) | undefined;

  private constructor(readonly ws: WebSocket, readonly index: number) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.onFrame(data as Buffer);
      const text = data.toString();
      if (this.texts.length < 50) this.texts.push(text.slice(0, 200));
      if (text.includes('"t":"resync"')) this.resyncs++;
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
    ws.on('error', () => {});
  }

  static async connect(port: number, token: string, index: number): Promise<Agent> {
    const ws = new WebSocket(`ws://${HOST}:${port}${AGENT_SOCKET_PATH}`, agentProtocols(token), {
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
    });
    const a = new Agent(ws, index);
    await awaitText(ws, 'ready', 5000);
    return a;
  }

  async join(visitorId: string): Promise<void> {
    const joined = awaitText(this.ws, 'joined', 5000);
    this.ws.send(JSON.stringify({ t: 'join', visitorId }));
    await joined;
  }

  private onFrame(buf: Buffer): void {
    const now = nowMs();
    this.lastRecvAt = now;
    if (buf.length < HEADER_BYTES) return;
    const seq = buf.readUInt32LE(1);
    if (seq === this.expected) this.expected++;
    else if (seq > this.expected) {
      this.gaps += seq - this.expected;
      this.expected = seq + 1;
    } else this.outOfOrder++;
    this.received++;
    const s = this.sink;
    if (!s) return;
    s.deliveries++;
    s.bytes += buf.length;
    if (s.firstRecvAt === 0) s.firstRecvAt = now;
    s.lastRecvAt = now;
    s.fromScheduled.recordValue(Math.max(1, Math.round((now - buf.readDoubleLE(5)) * 1000)));
    s.fromSent.recordValue(Math.max(1, Math.round((now - buf.readDoubleLE(13)) * 1000)));
    this.onFrameHook?.();
  }

  /** Stops reading: the TCP receive window fills and the relay has to buffer or drop. */
  pause(): void {
    this.paused = true;
    (this.ws as unknown as { _socket: Socket })._socket.pause();
  }

  resume(): void {
    this.paused = false;
    (this.ws as unknown as { _socket: Socket })._socket.resume();
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(Close.normal.code);
  }

  terminate(): void {
    this.ws.terminate();
  }
}
