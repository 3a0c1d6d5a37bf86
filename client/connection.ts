/**
 * The visitor socket: ids kept across page loads, reconnect with capped exponential backoff and
 * full jitter, and no retry after a refusal. Browsers hide why an upgrade failed, so after a
 * failed connect the relay's `/v1/visitor/check` says whether it was a refusal.
 */
import type { RelayToVisitor } from '../protocol/control.ts';
import { socketUrl, VISITOR_CHECK_PATH, VISITOR_SOCKET_PATH } from '../protocol/endpoints.ts';
import { ABNORMAL_CLOSE_CODE, Close, VISITOR_FINAL_CLOSE_CODES } from '../protocol/errors.ts';
import { backoffDelay, checkRefusalCode, diagnose, MAX_BACKOFF_ATTEMPT } from './backoff.ts';
import { KEYS, load, remove, save } from './storage.ts';

const FORGET = JSON.stringify({ t: 'forget' });
const PUSHBACK = new Set<number>([Close.rateLimited.code, Close.overloaded.code]);

export interface ConnectionEvents {
  open(): void;
  message(msg: RelayToVisitor): void;
  /** The socket closed; `final` means no reconnect will follow. */
  closed(code: number, final: boolean): void;
  /** Our stored visitor id was deleted (4004) or refused: it has been forgotten. */
  idsForgotten(): void;
}

export class Connection {
  #ws?: WebSocket;
  #attempt = 0;
  /** Consecutive closes by which the relay pushed back (see onclose). */
  #pushbacks = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #stopped = false;

  readonly #relay: URL;
  readonly #key: string;
  readonly #on: ConnectionEvents;

  constructor(relay: URL, key: string, on: ConnectionEvents) {
    this.#relay = relay;
    this.#key = key;
    this.#on = on;
  }

  get socket(): WebSocket | undefined {
    return this.#ws?.readyState === WebSocket.OPEN ? this.#ws : undefined;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Sends an already validated control message (see Session.send). */
  sendText(text: string): void {
    this.socket?.send(text);
  }

  /**
   * The visitor's erasure request. Kept until the relay confirms it (4004), and sent again after
   * every reconnect: a relay that pushes back (4029, 4013) or restarts must not lose it.
   */
  requestErasure(): void {
    save('local', KEYS.forgetPending, '1');
    this.sendText(FORGET);
  }

  /** Closes for good (until `start()`); nothing is sent after this. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws && ws.readyState < WebSocket.CLOSING) ws.close(Close.normal.code);
  }

  #query(): URLSearchParams {
    const q = new URLSearchParams({ key: this.#key });
    const vid = load('local', KEYS.visitorId);
    const vt = load('local', KEYS.visitorToken);
    if (vid && vt) {
      q.set('vid', vid);
      q.set('vt', vt);
    }
    const tab = load('session', KEYS.tabId);
    if (tab) q.set('tab', tab);
    return q;
  }

  #connect(): void {
    if (this.#stopped) return;
    const base = socketUrl(this.#relay, VISITOR_SOCKET_PATH);
    const query = this.#query();
    let opened = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${base}?${query}`);
    } catch {
      this.#retryLater();
      return;
    }
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      opened = true;
      this.#attempt = 0;
      this.#on.open();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg: RelayToVisitor;
      try {
        msg = JSON.parse(ev.data) as RelayToVisitor;
      } catch {
        return;
      }
      if (msg.t === 'welcome') {
        save('local', KEYS.visitorId, msg.visitorId);
        save('local', KEYS.visitorToken, msg.visitorToken);
        save('session', KEYS.tabId, msg.tabId);
        if (load('local', KEYS.forgetPending)) ws.send(FORGET);
      }
      this.#on.message(msg);
    };
    ws.onerror = () => {
      /* followed by onclose; the browser already logged what it knows */
    };
    ws.onclose = (ev) => {
      if (this.#ws === ws) this.#ws = undefined;
      if (this.#stopped) return;
      if (ev.code === Close.visitorDeleted.code) this.#forgetIds();
      if (VISITOR_FINAL_CLOSE_CODES.has(ev.code)) {
        this.#stopped = true;
        this.#on.closed(ev.code, true);
        return;
      }
      this.#on.closed(ev.code, false);
      // Pushed back (rate limited, overloaded): back off as if the connect had failed, growing each
      // time, rather than reconnecting at once because the socket had opened.
      if (PUSHBACK.has(ev.code)) this.#attempt = Math.min(++this.#pushbacks + 2, MAX_BACKOFF_ATTEMPT);
      else if (opened) this.#pushbacks = 0;
      if (opened) this.#retryLater();
      else void this.#diagnose(query);
    };
  }

  /** A connect that never opened: refused (stop, or drop stale ids) or unreachable (back off). */
  async #diagnose(query: URLSearchParams): Promise<void> {
    let code: string | undefined;
    try {
      const res = await fetch(`${this.#relay.origin}${VISITOR_CHECK_PATH}?${query}`, { credentials: 'omit', cache: 'no-store' });
      if (res.status !== 204) code = checkRefusalCode(res.status, await res.json());
    } catch {
      code = undefined; // the relay is unreachable: a network problem, retry later
    }
    if (this.#stopped) return;
    const next = diagnose(code);
    if (next === 'stop') {
      this.#stopped = true;
      this.#on.closed(ABNORMAL_CLOSE_CODE, true);
      return;
    }
    if (next === 'fresh') {
      this.#forgetIds();
      this.#connect(); // start fresh right away with a new id
      return;
    }
    this.#retryLater();
  }

  #forgetIds(): void {
    remove('local', KEYS.visitorId);
    remove('local', KEYS.visitorToken);
    remove('local', KEYS.forgetPending); // the ids it was about are gone: a new id has nothing to erase
    this.#on.idsForgotten();
  }

  #retryLater(): void {
    if (this.#stopped) return;
    const delay = backoffDelay(this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, MAX_BACKOFF_ATTEMPT);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }
}
