/**
 * The agent socket: `ws(s)://<relay>/v1/agent` with the token in Sec-WebSocket-Protocol
 * (`cobrowse.v1, bearer.<jwt>`), never in the URL. Reconnects with capped, jittered
 * backoff. Everything it receives (control messages and binary frames) is handed on
 * strictly in arrival order through one FrameInbox (frameInbox.ts), although frames are decoded
 * asynchronously in a worker (frameDecoder.ts): only a bounded number are decoded ahead, the rest
 * wait compressed, and a backlog past its bounds is dropped and reported via `onBacklogDropped`.
 */
import type { AgentToRelay, RelayToAgent } from '../protocol/control.ts';
import { AGENT_SOCKET_PATH, agentProtocols, socketUrl } from '../protocol/endpoints.ts';
import { AGENT_FINAL_CLOSE_CODES, Close } from '../protocol/errors.ts';
import { FrameDecoder } from './frameDecoder.ts';
import { FrameInbox } from './frameInbox.ts';
import { reconnectDelay } from './reconnectDelay.ts';
import type { DecodedFrame, FrameError } from './frames.ts';
import type { ViewerIdentity } from './e2e/frameKeys.ts';

export interface ConnectionHandlers {
  onOpen(): void;
  onMessage(m: RelayToAgent): void;
  onFrame(f: DecodedFrame): void;
  /** A frame could not be decoded (corrupt, over the size cap, …): the stream has a gap. */
  onBadFrame(err: FrameError): void;
  /** Frames arrived faster than they were applied, past the backlog bounds: `dropped` were skipped. */
  onBacklogDropped(dropped: number): void;
  /** The socket closed; `retryInMs` is undefined when it will not reconnect. */
  onClose(code: number, reason: string, retryInMs: number | undefined): void;
}

export class AgentConnection {
  private ws?: WebSocket;
  /** The most recent socket: messages still queued from an older one are dropped. */
  private latest?: WebSocket;
  private attempt = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private stopped = false;
  private readonly decoder = new FrameDecoder();
  private readonly inbox = new FrameInbox((data) => this.decoder.decode(data), (dropped) => {
    if (!this.stopped) this.h.onBacklogDropped(dropped);
  });

  constructor(private readonly url: string, private readonly token: string, private readonly h: ConnectionHandlers) {}

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url, agentProtocols(this.token));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.latest = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.h.onOpen();
    };
    ws.onmessage = (ev) => {
      const data = ev.data as string | ArrayBuffer;
      if (typeof data !== 'string') {
        this.inbox.pushFrame(data, (r) => {
          if (this.latest !== ws || this.stopped) return; // from a socket we have since replaced
          if (r.ok) this.h.onFrame(r.frame);
          else this.h.onBadFrame(r.error);
        });
        return;
      }
      let m: RelayToAgent;
      try {
        m = JSON.parse(data) as RelayToAgent;
      } catch {
        return;
      }
      // A content key goes to the decoder at once, so it precedes every frame that arrived after it.
      if (m.t === 'e2e-key' && typeof m.embedKey === 'string' && Number.isInteger(m.keyId)) {
        this.decoder.addKey({ embedKey: m.embedKey, keyId: m.keyId, iv: String(m.iv), wrapped: String(m.wrapped) });
      }
      // A new tab session (tab followed, page reloaded): its embed key is pinned at its first opened frame.
      if (m.t === 'joined') this.decoder.unpin();
      this.inbox.pushTask(() => {
        if (this.latest !== ws) return;
        this.h.onMessage(m);
      });
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      let retry: number | undefined;
      if (!this.stopped && !AGENT_FINAL_CLOSE_CODES.has(ev.code)) {
        retry = reconnectDelay(this.attempt++);
        this.timer = setTimeout(() => this.connect(), retry);
      }
      // Let frames already queued finish before the close is reported, to keep order.
      this.inbox.pushTask(() => this.h.onClose(ev.code, ev.reason, retry));
    };
  }

  send(m: AgentToRelay): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /** This viewer's E2E key pair, for the decoder worker. */
  setIdentity(identity: ViewerIdentity): void {
    this.decoder.setIdentity(identity);
  }

  /** A new session: content keys of the previous one no longer apply. */
  resetKeys(): void {
    this.decoder.resetKeys();
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
    ws?.close(Close.normal.code);
    this.decoder.close();
  }
}

/** The agent socket URL for the relay that served this page. */
export function agentSocketUrl(loc: Location = location): string {
  return socketUrl(loc, AGENT_SOCKET_PATH);
}
