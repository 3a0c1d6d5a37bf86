/**
 * Bench child: the socket.io reference relay, the straightforward way (socket.io 4 on node:http,
 * WebSocket transport only, its default parser). The same routing subset as the other references:
 *  - a visitor connects with `?key=<publicKey>` (Origin checked) and gets event `m` {t:'welcome'};
 *  - an agent connects with `auth: {token}` (a verified agent JWT) and gets `m` {t:'ready'};
 *  - agent `m` {t:'join'} -> joins the visitor's room, `joined`, the visitor gets `snapshot-request`;
 *  - each visitor event `f` (one binary frame, byte 0 a known kind) is emitted to the room.
 * The load generator speaks Engine.IO 4 over its raw WebSocket client (scripts/bench/load.ts).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { Server, type Socket } from 'socket.io';
import { DEFAULT_MAX_PAYLOAD_BYTES, isKnownFrameKind } from '../../protocol/index.ts';
import { mintAgentToken, verifyAgentToken } from '../../relay/auth/agentToken.ts';
import { newVisitorId } from '../../relay/auth/visitorToken.ts';
import { serveIpc, send } from './childCommon.ts';
import { AGENT_SLOTS, BENCH_ORIGIN } from './ipc.ts';

const relaySecret = crypto.randomBytes(32);
const accountId = 'acc_bench';
const publicKey = 'pk_' + crypto.randomBytes(12).toString('base64url');

const counters = { frames_in_total: 0, frames_delivered_total: 0, bad_messages_total: 0 };
const gauges = { visitor_sockets: 0, agent_sockets: 0 };
const visitors = new Map<string, Socket>();

const server = http.createServer();
const io = new Server(server, {
  transports: ['websocket'],
  maxHttpBufferSize: DEFAULT_MAX_PAYLOAD_BYTES,
  perMessageDeflate: false,
  serveClient: false,
});

io.use((socket, next) => {
  const q = socket.handshake.query;
  if (q.key !== undefined) {
    if (q.key !== publicKey) return next(new Error('unknown_key'));
    if (socket.handshake.headers.origin !== BENCH_ORIGIN) return next(new Error('forbidden_origin'));
    socket.data = { kind: 'visitor', visitorId: newVisitorId() };
    return next();
  }
  const token = (socket.handshake.auth as { token?: unknown }).token;
  if (typeof token !== 'string') return next(new Error('unauthorized'));
  verifyAgentToken(token, relaySecret, async () => null).then(
    (v) => {
      if (!v.ok || v.claims.accountId !== accountId) return next(new Error('invalid_token'));
      socket.data = { kind: 'agent', agentId: v.claims.agentId };
      next();
    },
    () => next(new Error('internal')),
  );
});

io.on('connection', (socket) => {
  if (socket.data.kind === 'visitor') return onVisitor(socket);
  onAgent(socket);
});

function onVisitor(socket: Socket): void {
  const visitorId = socket.data.visitorId as string;
  const room = `tab/${visitorId}`;
  visitors.set(visitorId, socket);
  gauges.visitor_sockets++;
  socket.emit('m', { t: 'welcome', visitorId });
  socket.on('f', (frame: unknown) => {
    if (!Buffer.isBuffer(frame) || frame.length === 0 || !isKnownFrameKind(frame[0])) {
      counters.bad_messages_total++;
      return void socket.disconnect(true);
    }
    counters.frames_in_total++;
    io.to(room).emit('f', frame);
    counters.frames_delivered_total += io.sockets.adapter.rooms.get(room)?.size ?? 0;
  });
  socket.on('disconnect', () => {
    visitors.delete(visitorId);
    gauges.visitor_sockets--;
  });
}

function onAgent(socket: Socket): void {
  gauges.agent_sockets++;
  socket.emit('m', { t: 'ready', agentId: socket.data.agentId, accountId });
  let room: string | undefined;
  socket.on('m', (msg: { t?: unknown; visitorId?: unknown }) => {
    if (msg?.t === 'join' && typeof msg.visitorId === 'string') {
      if (room) void socket.leave(room);
      const visitor = visitors.get(msg.visitorId);
      if (!visitor) return void socket.emit('m', { t: 'refused', visitorId: msg.visitorId, reason: 'not_found' });
      room = `tab/${msg.visitorId}`;
      void socket.join(room);
      socket.emit('m', { t: 'joined', visitorId: msg.visitorId, tabId: 't', url: '', title: '' });
      visitor.emit('m', { t: 'snapshot-request' });
    } else if (msg?.t === 'leave' && room) {
      void socket.leave(room);
      room = undefined;
    } else {
      counters.bad_messages_total++;
      socket.disconnect(true);
    }
  });
  socket.on('disconnect', () => gauges.agent_sockets--);
}

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as { port: number }).port;
const tokens = Array.from({ length: AGENT_SLOTS }, (_, i) => mintAgentToken(relaySecret, { accountId, agentId: `a${i}`, name: `Bench ${i}`, ttlSec: 3600 }));

serveIpc({
  counters: () => counters,
  gauges: () => gauges,
  stop: () =>
    new Promise<void>((resolve) => {
      io.disconnectSockets(true);
      void io.close(() => resolve());
    }),
});
send({ type: 'ready', impl: 'socketio', native: false, dialect: 'socketio', port, publicKey, tokens });
