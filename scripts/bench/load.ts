/**
 * The load generator's clients: one visitor that sends stamped binary frames, and agents
 * that time and sequence-check every frame they receive. Raw WebSocket clients over plain
 * sockets (rawWs.ts), loopback only: pre-built frames out, no payload copies in, so that the
 * generator costs much less per frame than the relays it measures.
 *
 * Frame layout (after the relay's own byte 0 = kind):
 *   [1..4]  u32 LE  sequence number (0, 1, 2, ... per session)
 *   [5..12] f64 LE  scheduled send time, ms (performance.timeOrigin + performance.now())
 *   [13..20] f64 LE actual send time, ms (same clock, taken just before the write)
 *   the rest: filler, opaque to the relay.
 */
import * as hdr from 'hdr-histogram-js';
import { AGENT_SOCKET_PATH, agentProtocols, Close, VISITOR_SOCKET_PATH } from '../../protocol/index.ts';
import { BENCH_ORIGIN } from './ipc.ts';
import { clientFrame, RawWs } from './rawWs.ts';

export const HEADER_BYTES = 21;

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

/**
 * Waits for the first text message whose `t` is `t` (the socket's text handler calls `offer`). The
 * last few messages nobody waited for are kept, since a reply can arrive before the wait starts.
 */
class TextWaiter {
  private waiting: { t: string; resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void } | undefined;
  private unclaimed: string[] = [];
  private closedWith: string | undefined;

  wait(t: string, ms: number): Promise<Record<string, unknown>> {
    const i = this.unclaimed.findIndex((x) => x.includes(`"t":"${t}"`));
    if (i >= 0) return Promise.resolve(JSON.parse(this.unclaimed.splice(i, 1)[0]) as Record<string, unknown>);
    if (this.closedWith) return Promise.reject(new Error(`socket closed (${this.closedWith}) while waiting for ${t}`));
    return withTimeout(new Promise((resolve, reject) => (this.waiting = { t, resolve, reject })), ms, `waiting for "${t}"`);
  }

  offer(text: string): void {
    const w = this.waiting;
    if (!w || !text.includes(`"t":"${w.t}"`)) {
      if (this.unclaimed.push(text) > 16) this.unclaimed.shift();
      return;
    }
    this.waiting = undefined;
    w.resolve(JSON.parse(text) as Record<string, unknown>);
  }

  closed(code: number, reason: string): void {
    this.closedWith = `${code} ${reason}`;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(new Error(`socket closed (${code} ${reason}) while waiting for ${w.t}`));
  }
}

/**
 * How the clients speak to a relay: `plain` is our protocol (ours, the bare uWS floor, the ws
 * baseline); `socketio` is Engine.IO 4 over a WebSocket (event `m` carries control objects, event
 * `f` a binary frame as one attachment), for the socket.io baseline.
 */
export type Dialect = 'plain' | 'socketio';

const SIO_PATH = '/socket.io/?EIO=4&transport=websocket';
/** socket.io's header for `emit('f', <one binary attachment>)`. */
const SIO_BINARY_EVENT = clientFrame(0x1, Buffer.from('451-["f",{"_placeholder":true,"num":0}]'));

/** A control object out of a text message, for either dialect (undefined: not one). */
function controlOf(text: string, dialect: Dialect): string | undefined {
  if (dialect === 'plain') return text;
  if (!text.startsWith('42')) return undefined;
  const i = text.indexOf('{');
  return i < 0 ? undefined : text.slice(i, text.length - 1);
}

/** The socket.io handshake's parts the client answers: engine ping -> pong, and the namespace connect. */
function sioText(ws: RawWs, text: string): boolean {
  if (text === '2') {
    ws.sendText('3');
    return true;
  }
  return text.charCodeAt(0) === 0x30 /* '0' engine open, or '40' namespace connected */ || text.startsWith('451-');
}

export class Visitor {
  visitorId = '';
  snapshotRequests = 0;
  private template: Buffer | undefined;
  private templateSize = -1;
  private stampAt = 0;
  private readonly texts = new TextWaiter();

  private constructor(
    readonly ws: RawWs,
    readonly dialect: Dialect,
  ) {
    ws.setEvents({
      onText: (text) => {
        if (dialect === 'socketio' && sioText(ws, text)) return;
        const c = controlOf(text, dialect);
        if (c === undefined) return;
        if (c.includes('"snapshot-request"')) this.snapshotRequests++;
        this.texts.offer(c);
      },
      onClose: (code, reason) => this.texts.closed(code, reason),
    });
  }

  static async connect(port: number, publicKey: string, o: { dialect?: Dialect; localAddress?: string; retryShedForMs?: number } = {}): Promise<Visitor> {
    // A watched visitor of the storm bench: shed by admission (4503), it tries again shortly, for a while.
    for (const until = nowMs() + (o.retryShedForMs ?? 0); ; ) {
      try {
        return await Visitor.connectOnce(port, publicKey, o);
      } catch (err) {
        if (nowMs() > until || !String((err as Error).message).includes(`(${Close.tryAgainLater.code} `)) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private static async connectOnce(port: number, publicKey: string, o: { dialect?: Dialect; localAddress?: string }): Promise<Visitor> {
    const dialect = o.dialect ?? 'plain';
    const key = encodeURIComponent(publicKey);
    const path = dialect === 'plain' ? `${VISITOR_SOCKET_PATH}?key=${key}` : `${SIO_PATH}&key=${key}`;
    const ws = await RawWs.connect({ port, path, localAddress: o.localAddress, headers: { Origin: BENCH_ORIGIN } }, {});
    const v = new Visitor(ws, dialect);
    const welcome = v.texts.wait('welcome', 5000);
    if (dialect === 'socketio') ws.sendText('40');
    v.visitorId = String((await welcome).visitorId);
    return v;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /**
   * Sends one stamped frame of `size` bytes. The frame (WebSocket header included) is built once per
   * size and only its stamp is rewritten; while the socket still holds earlier writes, a copy is
   * stamped instead, because a queued write references its buffer.
   */
  send(kind: number, size: number, seq: number, scheduledMs: number): void {
    let buf = this.template;
    if (!buf || this.templateSize !== size) {
      const payload = Buffer.alloc(size);
      for (let i = HEADER_BYTES; i < size; i++) payload[i] = (i * 31) & 0xff;
      const frame = clientFrame(0x2, payload);
      buf = this.dialect === 'socketio' ? Buffer.concat([SIO_BINARY_EVENT, frame]) : frame;
      this.stampAt = buf.length - size;
      this.templateSize = size;
    } else if (this.ws.bufferedAmount > 0) buf = Buffer.from(buf);
    this.template = buf;
    const o = this.stampAt;
    buf[o] = kind;
    buf.writeUInt32LE(seq, o + 1);
    buf.writeDoubleLE(scheduledMs, o + 5);
    buf.writeDoubleLE(nowMs(), o + 13);
    this.ws.writeFrame(buf);
  }

  close(): void {
    this.ws.close(Close.normal.code);
  }

  terminate(): void {
    this.ws.terminate();
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
  private readonly waiter = new TextWaiter();

  private constructor(
    readonly ws: RawWs,
    readonly index: number,
    readonly dialect: Dialect,
  ) {
    ws.setEvents({
      onBinary: (head, length) => this.onFrame(head, length),
      onText: (text) => {
        if (dialect === 'socketio' && sioText(ws, text)) return;
        const c = controlOf(text, dialect);
        if (c === undefined) return;
        if (this.texts.length < 50) this.texts.push(c.slice(0, 200));
        if (c.includes('"t":"resync"')) this.resyncs++;
        this.waiter.offer(c);
      },
      onClose: (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason;
        this.waiter.closed(code, reason);
      },
    });
  }

  static async connect(port: number, token: string, index: number, o: { dialect?: Dialect } = {}): Promise<Agent> {
    const dialect = o.dialect ?? 'plain';
    const headers: Record<string, string> = dialect === 'plain' ? { 'Sec-WebSocket-Protocol': agentProtocols(token).join(', ') } : {};
    const ws = await RawWs.connect({ port, path: dialect === 'plain' ? AGENT_SOCKET_PATH : SIO_PATH, headers, keepBytes: HEADER_BYTES }, {});
    const a = new Agent(ws, index, dialect);
    const ready = a.waiter.wait('ready', 5000);
    if (dialect === 'socketio') ws.sendText(`40${JSON.stringify({ token })}`);
    await ready;
    return a;
  }

  async join(visitorId: string): Promise<void> {
    const joined = this.waiter.wait('joined', 5000);
    const msg = JSON.stringify({ t: 'join', visitorId });
    this.ws.sendText(this.dialect === 'plain' ? msg : `42["m",${msg}]`);
    await joined;
  }

  private onFrame(buf: Buffer, length: number): void {
    const now = nowMs();
    this.lastRecvAt = now;
    if (length < HEADER_BYTES) return;
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
    s.bytes += length;
    if (s.firstRecvAt === 0) s.firstRecvAt = now;
    s.lastRecvAt = now;
    s.fromScheduled.recordValue(Math.max(1, Math.round((now - buf.readDoubleLE(5)) * 1000)));
    s.fromSent.recordValue(Math.max(1, Math.round((now - buf.readDoubleLE(13)) * 1000)));
    this.onFrameHook?.();
  }

  /** Stops reading: the TCP receive window fills and the relay has to buffer or drop. */
  pause(): void {
    this.paused = true;
    this.ws.pause();
  }

  resume(): void {
    this.paused = false;
    this.ws.resume();
  }

  close(): void {
    this.ws.close(Close.normal.code);
  }

  terminate(): void {
    this.ws.terminate();
  }
}
