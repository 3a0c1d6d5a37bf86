/**
 * Bench child: the floor. A bare uWebSockets.js publish relay (the same package and build as ours)
 * with only what the bench's clients need, written the way the uWS examples are:
 *  - `VISITOR_SOCKET_PATH?key=<publicKey>` (Origin checked) -> `welcome` with a fresh visitor id;
 *  - `AGENT_SOCKET_PATH` with the `cobrowse.v1` subprotocol and a verified `bearer.<jwt>` -> `ready`;
 *  - agent `join` -> subscribe to the visitor's topic, `joined`, and the visitor gets `snapshot-request`;
 *  - each binary frame from a visitor (byte 0 a known kind) is published verbatim to its topic.
 * No metadata, no budgets, no backpressure policy, no consent: what our relay costs above this is the
 * price of those, which is what the bench's ratio to the floor shows.
 */
import crypto from 'node:crypto';
import type { HttpResponse, us_listen_socket, WebSocket } from 'uWebSockets.js';
import { AGENT_SOCKET_PATH, AGENT_SUBPROTOCOL, BEARER_PREFIX, Close, DEFAULT_MAX_PAYLOAD_BYTES, isKnownFrameKind, MAX_CONTROL_BYTES, parseAgentMessage, VISITOR_SOCKET_PATH } from '../../protocol/index.ts';
import { mintAgentToken, verifyAgentToken } from '../../relay/auth/agentToken.ts';
import { newVisitorId } from '../../relay/auth/visitorToken.ts';
import { uws, uwsIsNative } from '../../relay/uwsLoader.ts';
import { serveIpc, send } from './childCommon.ts';
import { AGENT_SLOTS, BENCH_ORIGIN } from './ipc.ts';

const relaySecret = crypto.randomBytes(32);
const accountId = 'acc_bench';
// BENCH_PUBLIC_KEY / BENCH_PORT: the storm bench restarts the floor as it restarts ours (same key, same port).
const publicKey = process.env.BENCH_PUBLIC_KEY || 'pk_' + crypto.randomBytes(12).toString('base64url');
const decoder = new TextDecoder();

interface VisitorData {
  visitorId: string;
  topic: string;
}
interface AgentData {
  agentId: string;
  topic?: string;
}

const visitors = new Map<string, WebSocket<VisitorData>>();
const agentSockets = new Set<WebSocket<AgentData>>();
const counters = { frames_in_total: 0, frames_delivered_total: 0, bad_messages_total: 0 };
const gauges = { visitor_sockets: 0, agent_sockets: 0 };

function refuse(res: HttpResponse, status: string, code: string): void {
  res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify({ error: { code, message: code } })));
}

const app = uws.App();
app.ws<VisitorData>(VISITOR_SOCKET_PATH, {
  maxPayloadLength: DEFAULT_MAX_PAYLOAD_BYTES,
  idleTimeout: 120,
  upgrade: (res, req, context) => {
    if (new URLSearchParams(req.getQuery() ?? '').get('key') !== publicKey) return refuse(res, '401 Unauthorized', 'unknown_key');
    if (req.getHeader('origin') !== BENCH_ORIGIN) return refuse(res, '403 Forbidden', 'forbidden_origin');
    const visitorId = newVisitorId();
    res.upgrade({ visitorId, topic: `tab/${visitorId}` }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    const d = ws.getUserData();
    visitors.set(d.visitorId, ws);
    gauges.visitor_sockets++;
    ws.send(JSON.stringify({ t: 'welcome', visitorId: d.visitorId }), false);
  },
  message: (ws, message, isBinary) => {
    if (!isBinary) return;
    if (message.byteLength === 0 || !isKnownFrameKind(new Uint8Array(message, 0, 1)[0])) {
      counters.bad_messages_total++;
      return ws.end(Close.badMessage.code, Close.badMessage.reason);
    }
    counters.frames_in_total++;
    const topic = ws.getUserData().topic;
    app.publish(topic, message, true, false);
    counters.frames_delivered_total += app.numSubscribers(topic);
  },
  close: (ws) => {
    visitors.delete(ws.getUserData().visitorId);
    gauges.visitor_sockets--;
  },
});
app.ws<AgentData>(AGENT_SOCKET_PATH, {
  maxPayloadLength: MAX_CONTROL_BYTES,
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 120,
  upgrade: (res, req, context) => {
    const protocols = req.getHeader('sec-websocket-protocol').split(',').map((s) => s.trim());
    const bearer = protocols.find((p) => p.startsWith(BEARER_PREFIX));
    const key = req.getHeader('sec-websocket-key');
    const ext = req.getHeader('sec-websocket-extensions');
    let aborted = false;
    res.onAborted(() => (aborted = true));
    if (!protocols.includes(AGENT_SUBPROTOCOL) || !bearer) return refuse(res, '401 Unauthorized', 'unauthorized');
    void verifyAgentToken(bearer.slice(BEARER_PREFIX.length), relaySecret, async () => null).then((v) => {
      if (aborted) return;
      if (!v.ok || v.claims.accountId !== accountId) return refuse(res, '401 Unauthorized', 'invalid_token');
      res.cork(() => res.upgrade({ agentId: v.claims.agentId }, key, AGENT_SUBPROTOCOL, ext, context));
    });
  },
  open: (ws) => {
    agentSockets.add(ws);
    gauges.agent_sockets++;
    ws.send(JSON.stringify({ t: 'ready', agentId: ws.getUserData().agentId, accountId }), false);
  },
  message: (ws, message, isBinary) => {
    const parsed = isBinary ? undefined : parseAgentMessage(decoder.decode(message));
    if (!parsed?.ok) {
      counters.bad_messages_total++;
      return ws.end(Close.badMessage.code, Close.badMessage.reason);
    }
    const d = ws.getUserData();
    const msg = parsed.msg;
    if (msg.t === 'join') {
      if (d.topic) ws.unsubscribe(d.topic);
      const visitor = visitors.get(msg.visitorId);
      if (!visitor) return void ws.send(JSON.stringify({ t: 'refused', visitorId: msg.visitorId, reason: 'not_found' }), false);
      d.topic = visitor.getUserData().topic;
      ws.subscribe(d.topic);
      ws.send(JSON.stringify({ t: 'joined', visitorId: msg.visitorId, tabId: 't', url: '', title: '' }), false);
      visitor.send(JSON.stringify({ t: 'snapshot-request' }), false);
    } else if (msg.t === 'leave' && d.topic) {
      ws.unsubscribe(d.topic);
      d.topic = undefined;
    }
  },
  close: (ws) => {
    agentSockets.delete(ws);
    gauges.agent_sockets--;
  },
});

const listen = await new Promise<us_listen_socket>((resolve, reject) =>
  app.listen('127.0.0.1', Number(process.env.BENCH_PORT ?? 0), (s) => (s ? resolve(s) : reject(new Error('bare uWS relay could not listen')))),
);
const port = uws.us_socket_local_port(listen);
const tokens = Array.from({ length: AGENT_SLOTS }, (_, i) => mintAgentToken(relaySecret, { accountId, agentId: `a${i}`, name: `Bench ${i}`, ttlSec: 3600 }));

serveIpc({
  counters: () => counters,
  gauges: () => {
    let buffered = 0;
    for (const ws of agentSockets) buffered += ws.getBufferedAmount();
    return { ...gauges, agent_buffered_bytes: buffered };
  },
  stop: () => {
    uws.us_listen_socket_close(listen);
    for (const ws of [...visitors.values(), ...agentSockets]) ws.close();
  },
});
send({ type: 'ready', impl: 'uws-bare', native: uwsIsNative, port, publicKey, tokens });
