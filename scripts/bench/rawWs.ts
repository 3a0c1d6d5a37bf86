/**
 * A minimal WebSocket client over a plain `net.Socket`, for the load generator: it must cost far
 * less per frame than the relay it measures (`ws` masks every frame into a fresh buffer and parses
 * every received one into a Buffer; on 2 cores that made the generator, not the relay, the limit).
 *
 * - Sends pre-built client frames with the mask bit set and a zero mask key (RFC 6455 allows any
 *   key; zero makes masking the identity, so a frame is built once and only its stamp bytes change).
 * - Receives without copying payloads: a binary message's first `keepBytes` bytes are kept (the
 *   stamp), the rest is counted and skipped; text messages (small control JSON) are kept whole.
 * - Answers pings, records the close code and reason. No fragmentation (neither relay sends any),
 *   no extensions.
 */
import net from 'node:net';
import { Close } from '../../protocol/index.ts';

const CRLF2 = Buffer.from('\r\n\r\n');
/** RFC 6455 reserved codes: a close frame without a status, a connection lost without a close frame. */
const NO_STATUS = 1005;
const ABNORMAL = 1006;
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

export interface RawWsOptions {
  port: number;
  path: string;
  host?: string;
  /** Source address (e.g. 127.0.0.2): loopback has 28k ephemeral ports per source address. */
  localAddress?: string;
  headers?: Record<string, string>;
  /** How many leading bytes of each binary message `onBinary` sees (the rest is only counted). */
  keepBytes?: number;
  /** Give up on the handshake after this long. */
  timeoutMs?: number;
}

export interface RawWsEvents {
  onText?(text: string): void;
  /** `head` holds the first min(keepBytes, length) bytes; valid only during the call. */
  onBinary?(head: Buffer, length: number): void;
  onClose?(code: number, reason: string): void;
}

/** The HTTP status of a refused upgrade, as an error. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`upgrade refused with HTTP ${status}: ${body.slice(0, 200)}`);
  }
}

/** Builds one client frame (FIN, opcode, mask bit, zero mask key) around a payload of `size` bytes. */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const extra = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = 2 + extra + 4;
  const buf = Buffer.allocUnsafe(head + n);
  buf[0] = 0x80 | opcode;
  if (extra === 0) buf[1] = 0x80 | n;
  else if (extra === 2) {
    buf[1] = 0x80 | 126;
    buf.writeUInt16BE(n, 2);
  } else {
    buf[1] = 0x80 | 127;
    buf.writeBigUInt64BE(BigInt(n), 2);
  }
  buf.writeUInt32BE(0, 2 + extra); // mask key 0: payload bytes go as they are
  payload.copy(buf, head);
  return buf;
}

/** Offset of the payload inside a frame built by clientFrame. */
export function payloadOffset(size: number): number {
  return 2 + (size < 126 ? 0 : size < 65536 ? 2 : 8) + 4;
}

export class RawWs {
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  // Frame parser state.
  private hdr = Buffer.alloc(14);
  private hdrLen = 0;
  private need = 2; // header bytes needed
  private inPayload = false;
  private opcode = 0;
  private remaining = 0;
  private length = 0;
  private keep: Buffer;
  private keepLen = 0;
  private keepWant = 0;
  private text: Buffer[] = [];
  /** Data received before setEvents; undefined once delivered. */
  held: Buffer[] | undefined = [];

  private constructor(
    readonly socket: net.Socket,
    private ev: RawWsEvents,
    keepBytes: number,
  ) {
    this.keep = Buffer.alloc(Math.max(keepBytes, 125));
    this.closed = new Promise((r) => (this.resolveClosed = r));
    socket.on('close', () => {
      if (this.closeCode === undefined) this.closeCode = ABNORMAL;
      this.ev.onClose?.(this.closeCode, this.closeReason);
      this.resolveClosed();
    });
  }

  /** Connects and completes the upgrade; rejects with UpgradeRefused on a non-101 answer. */
  static connect(o: RawWsOptions, ev: RawWsEvents): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port: o.port, host: o.host ?? '127.0.0.1', localAddress: o.localAddress });
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(new Error(`upgrade timed out after ${o.timeoutMs ?? 10_000} ms`)), o.timeoutMs ?? 10_000);
      let head: Buffer = Buffer.alloc(0);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.removeAllListeners('data');
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      socket.on('connect', () => {
        let req = `GET ${o.path} HTTP/1.1\r\nHost: ${o.host ?? '127.0.0.1'}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n`;
        for (const [k, v] of Object.entries(o.headers ?? {})) req += `${k}: ${v}\r\n`;
        socket.write(req + '\r\n');
      });
      const onHead = (d: Buffer) => {
        head = head.length ? Buffer.concat([head, d]) : d;
        const end = head.indexOf(CRLF2);
        if (end < 0) {
          if (head.length > 16_384) fail(new Error('upgrade response headers too long'));
          return;
        }
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.subarray(0, 16).toString('latin1'))?.[1] ?? 0);
        if (status !== 101) {
          // Body (JSON error) may still be arriving: take what is there.
          const body = head.subarray(end + 4).toString('utf8');
          return fail(new UpgradeRefused(status, body));
        }
        clearTimeout(timer);
        socket.off('data', onHead);
        socket.off('error', fail);
        socket.on('error', () => {});
        const ws = new RawWs(socket, ev, o.keepBytes ?? 0);
        const rest = head.subarray(end + 4);
        // What arrives before the caller has set its handlers (setEvents) is held, not lost.
        if (rest.length) ws.held?.push(rest);
        socket.on('data', (c: Buffer) => void (ws.held ? ws.held.push(c) : ws.feed(c)));
        resolve(ws);
      };
      socket.on('data', onHead);
    });
  }

  /** Sets the handlers and delivers what arrived before. */
  setEvents(ev: RawWsEvents): void {
    this.ev = ev;
    const held = this.held;
    this.held = undefined;
    for (const c of held ?? []) this.feed(c);
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  get open(): boolean {
    return this.closeCode === undefined && !this.socket.destroyed;
  }

  /** Writes a frame built by clientFrame (the caller must not change it until writableLength is 0). */
  writeFrame(frame: Buffer): void {
    if (this.open) this.socket.write(frame);
  }

  sendText(text: string): void {
    this.writeFrame(clientFrame(0x1, Buffer.from(text)));
  }

  close(code: number = Close.normal.code): void {
    if (!this.open) return;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    this.socket.write(clientFrame(0x8, p));
  }

  terminate(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** The frame parser: header bytes, then payload (kept head + skipped rest, or whole text). */
  private feed(c: Buffer): void {
    let i = 0;
    const n = c.length;
    while (i < n) {
      if (!this.inPayload) {
        const take = Math.min(this.need - this.hdrLen, n - i);
        c.copy(this.hdr, this.hdrLen, i, i + take);
        this.hdrLen += take;
        i += take;
        if (this.hdrLen < this.need) return;
        if (this.need === 2) {
          const l7 = this.hdr[1] & 0x7f;
          const masked = (this.hdr[1] & 0x80) !== 0;
          this.need = 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0) + (masked ? 4 : 0);
          if (this.need > 2) continue;
        }
        this.opcode = this.hdr[0] & 0x0f;
        const l7 = this.hdr[1] & 0x7f;
        this.length = l7 === 126 ? this.hdr.readUInt16BE(2) : l7 === 127 ? Number(this.hdr.readBigUInt64BE(2)) : l7;
        this.remaining = this.length;
        this.keepLen = 0;
        this.keepWant = this.opcode === 0x2 ? Math.min(this.length, this.keep.length) : this.opcode === 0x1 ? 0 : Math.min(this.length, 125);
        this.inPayload = true;
        this.hdrLen = 0;
        this.need = 2;
        if (this.remaining === 0) this.endMessage();
        continue;
      }
      const take = Math.min(this.remaining, n - i);
      if (this.opcode === 0x1) this.text.push(c.subarray(i, i + take));
      else if (this.keepLen < this.keepWant) {
        const k = Math.min(this.keepWant - this.keepLen, take);
        c.copy(this.keep, this.keepLen, i, i + k);
        this.keepLen += k;
      }
      i += take;
      this.remaining -= take;
      if (this.remaining === 0) this.endMessage();
    }
  }

  private endMessage(): void {
    this.inPayload = false;
    switch (this.opcode) {
      case 0x1: {
        const t = this.text.length === 1 ? this.text[0].toString('utf8') : Buffer.concat(this.text).toString('utf8');
        this.text = [];
        this.ev.onText?.(t);
        return;
      }
      case 0x2:
        this.ev.onBinary?.(this.keep.subarray(0, this.keepLen), this.length);
        return;
      case 0x8:
        this.closeCode = this.keepLen >= 2 ? this.keep.readUInt16BE(0) : NO_STATUS;
        this.closeReason = this.keepLen > 2 ? this.keep.toString('utf8', 2, this.keepLen) : '';
        if (!this.socket.destroyed) {
          const p = Buffer.alloc(2);
          p.writeUInt16BE(this.closeCode === NO_STATUS ? Close.normal.code : this.closeCode);
          this.socket.end(clientFrame(0x8, p));
        }
        return;
      case 0x9:
        if (this.open) this.socket.write(clientFrame(0xa, Buffer.from(this.keep.subarray(0, this.keepLen))));
        return;
      default:
        return; // pong, continuation: none expected
    }
  }
}
