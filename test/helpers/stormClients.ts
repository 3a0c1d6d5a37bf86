/**
 * Many visitor sockets at once, for the admission and idle-visitor tests: `stormVisitor` is one
 * `ws` connect that reports how it ended (welcomed, shed with a retry-after, or refused);
 * `openIdleVisitors` opens thousands of cheap raw sockets (scripts/bench/rawWs.ts) over several
 * loopback source addresses and keeps them open.
 */
import WebSocket from 'ws';
import { VISITOR_SOCKET_PATH } from '../../protocol/index.ts';
import { RawWs } from '../../scripts/bench/rawWs.ts';
import { SITE_ORIGIN } from './relay.ts';

export type StormOutcome =
  | { kind: 'welcome'; visitorId: string; sock: WebSocket; at: number }
  | { kind: 'shed'; code: number; reason: string; error: { code?: string; retryAfterMs?: number }; at: number }
  | { kind: 'other'; detail: string; at: number };

/** One visitor connect (from `localAddress`, a loopback address, if given); a welcomed socket stays open (the caller closes it). */
export function stormVisitor(port: number, publicKey: string, query: Record<string, string> = {}, localAddress?: string): Promise<StormOutcome> {
  return new Promise((resolve) => {
    const q = new URLSearchParams({ key: publicKey, ...query });
    const ws = new WebSocket(`ws://127.0.0.1:${port}${VISITOR_SOCKET_PATH}?${q}`, { headers: { origin: SITE_ORIGIN }, localAddress });
    let error: { code?: string; retryAfterMs?: number } = {};
    let done = false;
    const finish = (o: StormOutcome) => {
      if (!done) resolve(o);
      done = true;
    };
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(String(data)) as { t: string; visitorId?: string; code?: string; retryAfterMs?: number };
      if (msg.t === 'welcome') finish({ kind: 'welcome', visitorId: String(msg.visitorId), sock: ws, at: Date.now() });
      if (msg.t === 'error') error = msg;
    });
    ws.on('close', (code, reason) => {
      if (error.code !== undefined) finish({ kind: 'shed', code, reason: reason.toString(), error, at: Date.now() });
      else finish({ kind: 'other', detail: `closed ${code} ${reason.toString()}`, at: Date.now() });
    });
    ws.on('unexpected-response', (req, res) => {
      req.destroy(); // else ws keeps the refused handshake's socket open
      finish({ kind: 'other', detail: `HTTP ${res.statusCode}`, at: Date.now() });
    });
    ws.on('error', (err) => finish({ kind: 'other', detail: err.message, at: Date.now() }));
  });
}

export interface IdleVisitor {
  ws: RawWs;
  visitorId: string;
  visitorToken: string;
  tabId: string;
}

export const LOOPBACK_SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

/** Opens one raw visitor socket and waits for its welcome (or rejects on close first). */
export async function openIdleVisitor(port: number, publicKey: string, localAddress: string, resume?: IdleVisitor): Promise<IdleVisitor> {
  const q = new URLSearchParams({ key: publicKey });
  if (resume) {
    q.set('vid', resume.visitorId);
    q.set('vt', resume.visitorToken);
    q.set('tab', resume.tabId);
  }
  let onWelcome!: (w: IdleVisitor) => void;
  let onFail!: (e: Error) => void;
  const welcomed = new Promise<IdleVisitor>((res, rej) => ((onWelcome = res), (onFail = rej)));
  const ws = await RawWs.connect({ port, path: `${VISITOR_SOCKET_PATH}?${q}`, localAddress, headers: { Origin: SITE_ORIGIN } }, {});
  ws.setEvents({
    onText: (text) => {
      const m = JSON.parse(text) as { t: string; visitorId: string; visitorToken: string; tabId: string };
      if (m.t === 'welcome') onWelcome({ ws, visitorId: m.visitorId, visitorToken: m.visitorToken, tabId: m.tabId });
    },
    onClose: (code, reason) => onFail(new Error(`closed ${code} ${reason} before welcome`)),
  });
  return welcomed;
}

/** Opens `n` visitors (or reopens `resume`'s), `concurrency` at a time, spread over the source addresses. */
export async function openIdleVisitors(port: number, publicKey: string, n: number, o: { concurrency?: number; resume?: IdleVisitor[] } = {}): Promise<IdleVisitor[]> {
  const out: IdleVisitor[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await openIdleVisitor(port, publicKey, LOOPBACK_SOURCES[i % LOOPBACK_SOURCES.length], o.resume?.[i]);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 100 }, worker));
  return out;
}

/** Closes them and waits until each socket is gone. */
export async function closeAll(visitors: IdleVisitor[]): Promise<void> {
  for (const v of visitors) v.ws.close();
  await Promise.all(visitors.map((v) => v.ws.closed));
}
