/**
 * The agent socket: `ws(s)://<relay>/v1/agent` with the token in Sec-WebSocket-Protocol
 * (`cobrowse.v1, bearer.<jwt>`), never in the URL. Reconnects with capped, jittered
 * backoff. Everything it receives (control messages and binary frames) is handed on
 * strictly in arrival order, although frames are decoded asynchronously in a worker
 * (frameDecoder.ts): a frame is handed to the worker as it arrives, and one promise chain
 * carries every message, awaiting each frame's result in turn.
 */
import type { AgentToRelay, RelayToAgent } from '../protocol/control.ts';
import { FrameDecoder } from './frameDecoder.ts';
import { FrameError, type DecodedFrame } from './frames.ts';

export interface ConnectionHandlers {
  onOpen(): void;
  onMessage(m: RelayToAgent): void;
  onFrame(f: DecodedFrame): void;
  /** A frame could not be decoded (corrupt, over the size cap, …): the stream has a gap. */
  onBadFrame(err: FrameError): void;
  /** The socket closed; `retryInMs` is undefined when it will not reconnect. */
  onClose(code: number, reason: string, retryInMs: number | undefined): void;
}

/** Close codes after which reconnecting with the same token cannot help. */
const FINAL_CODES = new Set([4001, 4004]);

export class AgentConnection {
  private ws?: WebSocket;
  /** The most recent socket: messages still queued from an older one are dropped. */
  private latest?: WebSocket;
  private attempt = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private stopped = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly decoder = new FrameDecoder();

  constructor(private readonly url: string, private readonly token: string, private readonly h: ConnectionHandlers) {}

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url, ['cobrowse.v1', `bearer.${this.token}`]);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.latest = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.h.onOpen();
    };
    ws.onmessage = (ev) => {
      const data = ev.data as string | ArrayBuffer;
      // Decoding starts now, off this thread; the chain below takes the result in arrival order.
      const decoded = typeof data === 'string' ? undefined : this.decoder.decode(data);
      decoded?.catch(() => {}); // handled in the chain; this only keeps it from being reported as unhandled
      this.chain = this.chain.then(async () => {
        if (this.latest !== ws) return; // from a socket we have since replaced
        if (typeof data === 'string') {
          let m: RelayToAgent;
          try {
            m = JSON.parse(data) as RelayToAgent;
          } catch {
            return;
          }
          this.h.onMessage(m);
          return;
        }
        let frame: DecodedFrame;
        try {
          frame = await decoded!;
        } catch (err) {
          if (this.latest === ws && !this.stopped) this.h.onBadFrame(err instanceof FrameError ? err : new FrameError('decoder_failed', String(err)));
          return;
        }
        if (this.latest === ws) this.h.onFrame(frame);
      }).catch((err) => {
        console.error('cobrowse viewer: failed to apply a message', err);
      });
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      let retry: number | undefined;
      if (!this.stopped && !FINAL_CODES.has(ev.code)) {
        // 0.5 s, 1 s, 2 s … capped at 15 s, with jitter so a relay restart is not a thundering herd.
        const cap = Math.min(15_000, 500 * 2 ** this.attempt++);
        retry = Math.round(cap / 2 + (Math.random() * cap) / 2);
        this.timer = setTimeout(() => this.connect(), retry);
      }
      // Let frames already queued finish before the close is reported, to keep order.
      this.chain = this.chain.then(() => this.h.onClose(ev.code, ev.reason, retry));
    };
  }

  send(m: AgentToRelay): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /** Reconnect now (after a network change, or the "retry now" button). */
  retryNow(): void {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = undefined;
    ws?.close(1000);
    this.decoder.close();
  }
}

/** The agent socket URL for the relay that served this page. */
export function agentSocketUrl(loc: Location = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/v1/agent`;
}
