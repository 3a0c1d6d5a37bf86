/**
 * Bench child: the reference relay, built on the `ws` package the straightforward way,
 * with the same routing as the real relay for the subset the bench uses:
 *  - `/v1/visitor?key=<publicKey>` (Origin checked) -> `welcome`;
 *  - `/v1/agent` requiring the `cobrowse.v1` subprotocol and a `bearer.<jwt>` agent token -> `ready`;
 *  - agent `join` -> `joined`, and the visitor is asked for a `snapshot-request`;
 *  - each binary frame from a visitor (byte 0 = a known frame kind) is sent to every joined agent with `ws.send`.
 * No artificial slowness and no extra work; also no backpressure handling (plain ws has none built in).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AGENT_SOCKET_PATH, AGENT_SUBPROTOCOL, BEARER_PREFIX, Close, DEFAULT_MAX_PAYLOAD_BYTES, isKnownFrameKind, VISITOR_SOCKET_PATH, MAX_CONTROL_BYTES, parseAgentMessage } from '../../protocol/index.ts';
import { mintAgentToken, verifyAgentToken } from '../../relay/auth/agentToken.ts';
import { newTabId, newVisitorId, visitorToken } from '../../relay/auth/visitorToken.ts';
import { serveIpc, send } from './childCommon.ts';
import { AGENT_SLOTS, BENCH_ORIGIN } from './ipc.ts';

const MAX_PAYLOAD = DEFAULT_MAX_PAYLOAD_BYTES; // the real relay's default
const relaySecret = crypto.randomBytes(32);
const accountId = 'acc_bench';
const publicKey = 'pk_' + crypto.randomBytes(12).toString('base64url');

interface Tab {
  ws: WebSocket;
  visitorId: string;
  tabId: string;
  agents: Set<WebSocket>;
}
interface Agent {
  agentId: string;
  tab?: Tab;
}

const tabs = new Map<string, Tab>(); // visitorId -> its (single) tab
const agents = new Map<WebSocket, Agent>();
const counters = { frames_in_total: 0, frames_delivered_total: 0, frame_bytes_delivered_total: 0, bad_messages_total: 0 };
const gauges = { visitor_sockets: 0, agent_sockets: 0 };

const visitorWss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
const agentWss = new WebSocketServer({
  noServer: true,
  maxPayload: MAX_CONTROL_BYTES * 2,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has(AGENT_SUBPROTOCOL) ? AGENT_SUBPROTOCOL : false),
});

function refuse(socket: Duplex, status: number, code: string): void {
  const body = JSON.stringify({ error: { code, message: code } });
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

const server = http.createServer((_req, res) => {
  res.writeHead(404).end();
});

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://relay');
  if (url.pathname === VISITOR_SOCKET_PATH) {
    if (url.searchParams.get('key') !== publicKey) return refuse(socket, 401, 'unknown_key');
    if (req.headers.origin !== BENCH_ORIGIN) return refuse(socket, 403, 'forbidden_origin');
    visitorWss.handleUpgrade(req, socket, head, (ws) => onVisitor(ws));
    return;
  }
  if (url.pathname === AGENT_SOCKET_PATH) {
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    const bearer = protocols.find((p) => p.startsWith(BEARER_PREFIX));
    if (!protocols.includes(AGENT_SUBPROTOCOL) || !bearer) return refuse(socket, 401, 'unauthorized');
    verifyAgentToken(bearer.slice(BEARER_PREFIX.length), relaySecret, async () => null).then(
      (v) => {
        if (!v.ok || v.claims.accountId !== accountId) return refuse(socket, 401, 'invalid_token');
        agentWss.handleUpgrade(req, socket, head, (ws) => onAgent(ws, v.claims.agentId));
      },
      () => refuse(socket, 500, 'internal'),
    );
    return;
  }
  refuse(socket, 404, 'not_found');
});

function onVisitor(ws: WebSocket): void {
  const tab: Tab = { ws, visitorId: newVisitorId(), tabId: newTabId(), agents: new Set() };
  tabs.set(tab.visitorId, tab);
  gauges.visitor_sockets++;
  ws.send(JSON.stringify({ t: 'welcome', visitorId: tab.visitorId, visitorToken: visitorToken(relaySecret, accountId, tab.visitorId), tabId: tab.tabId }));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary) return; // the bench's visitors send no control messages
    const frame = data as Buffer;
    if (frame.length === 0 || !isKnownFrameKind(frame[0])) {
      counters.bad_messages_total++;
      ws.close(Close.badMessage.code, Close.badMessage.reason);
      return;
    }
    counters.frames_in_total++;
    for (const agent of tab.agents) agent.send(frame);
    counters.frames_delivered_total += tab.agents.size;
    counters.frame_bytes_delivered_total += tab.agents.size * frame.length;
  });
  ws.on('close', () => {
    gauges.visitor_sockets--;
    tabs.delete(tab.visitorId);
    for (const a of tab.agents) {
      const agent = agents.get(a);
      if (agent) agent.tab = undefined;
      a.send(JSON.stringify({ t: 'visitor-left', visitorId: tab.visitorId, tabId: tab.tabId }));
    }
  });
  ws.on('error', () => {});
}

function onAgent(ws: WebSocket, agentId: string): void {
  const agent: Agent = { agentId };
  agents.set(ws, agent);
  gauges.agent_sockets++;
  ws.send(JSON.stringify({ t: 'ready', agentId, accountId }));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = data as Buffer;
    if (isBinary || buf.length > MAX_CONTROL_BYTES) return ws.close(Close.badMessage.code, Close.badMessage.reason);
    const parsed = parseAgentMessage(buf.toString('utf8'));
    if (!parsed.ok) {
      counters.bad_messages_total++;
      return ws.close(Close.badMessage.code, Close.badMessage.reason);
    }
    const msg = parsed.msg;
    if (msg.t === 'join') {
      agent.tab?.agents.delete(ws);
      const tab = tabs.get(msg.visitorId);
      if (!tab) return ws.send(JSON.stringify({ t: 'refused', visitorId: msg.visitorId, reason: 'not_found' }));
      agent.tab = tab;
      tab.agents.add(ws);
      ws.send(JSON.stringify({ t: 'joined', visitorId: tab.visitorId, tabId: tab.tabId, url: '', title: '' }));
      tab.ws.send(JSON.stringify({ t: 'snapshot-request' }));
    } else if (msg.t === 'leave') {
      agent.tab?.agents.delete(ws);
      agent.tab = undefined;
    }
  });
  ws.on('close', () => {
    gauges.agent_sockets--;
    agent.tab?.agents.delete(ws);
    agents.delete(ws);
  });
  ws.on('error', () => {});
}

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as { port: number }).port;
const tokens = Array.from({ length: AGENT_SLOTS }, (_, i) => mintAgentToken(relaySecret, { accountId, agentId: `a${i}`, name: `Bench ${i}`, ttlSec: 3600 }));

serveIpc({
  counters: () => counters,
  gauges: () => {
    // Bytes queued in the relay for agents (what ws holds in memory for readers that are behind).
    let buffered = 0;
    for (const ws of agents.keys()) buffered += ws.bufferedAmount;
    return { ...gauges, agent_buffered_bytes: buffered };
  },
  stop: () =>
    new Promise<void>((resolve) => {
      for (const ws of [...visitorWss.clients, ...agentWss.clients]) ws.terminate();
      server.close(() => resolve());
    }),
});
send({ type: 'ready', impl: 'ws-baseline', native: false, port, publicKey, tokens });
