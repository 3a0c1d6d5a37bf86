/**
 * Socket messages (one JSON control message per text frame) and closes: never throw into uWS, never
 * touch a closed socket. (An HTTP JSON response is http/respond.ts `sendJson`.)
 */
import type { WebSocket } from 'uWebSockets.js';
import { Close, type CloseName } from '../../protocol/index.ts';
import type { SocketBase } from './types.ts';

export function sendMessage(ws: WebSocket<unknown> | undefined, data: SocketBase, msg: object): void {
  if (!ws || data.closed) return;
  try {
    ws.send(JSON.stringify(msg), false);
  } catch {
    data.closed = true;
  }
}

/**
 * Sends `error {code, message}` then closes with the documented code and reason. Corked: the two go
 * out in one write, not two (a shutdown closing 18,000 sockets spent 2 s in those syscalls).
 */
export function closeWith(ws: WebSocket<unknown> | undefined, data: SocketBase, name: CloseName, message: string): void {
  if (!ws || data.closed) return;
  const { code, reason } = Close[name];
  try {
    ws.cork(() => {
      sendMessage(ws, data, { t: 'error', code: reason, message });
      data.closed = true;
      ws.end(code, reason);
    });
  } catch {
    data.closed = true; // already gone
  }
}
