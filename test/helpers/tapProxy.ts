/**
 * A passive tap in front of the relay: a loopback TCP proxy that records every byte in both
 * directions of every connection (HTTP and WebSocket), and turns the WebSocket streams back into
 * messages (unmasked, fragments joined) so a test can look at exactly what crossed the wire.
 * It changes nothing; it cannot read TLS (tests run plain ws:// on loopback).
 */
import net from 'node:net';

export interface TappedConnection {
  /** Client → relay and relay → client bytes, in order. */
  up: Buffer[];
  down: Buffer[];
}

export interface WsMessage { dir: 'up' | 'down'; opcode: number; payload: Buffer }

export interface TapProxy {
  port: number;
  connections: TappedConnection[];
  /** Every WebSocket message seen so far (both directions, every upgraded connection). */
  messages(): WsMessage[];
  /** All bytes recorded, both directions, concatenated (for raw searches). */
  allBytes(): Buffer;
  close(): Promise<void>;
}

export async function startTapProxy(targetPort: number): Promise<TapProxy> {
  const connections: TappedConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const rec: TappedConnection = { up: [], down: [] };
    connections.push(rec);
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d) => {
      rec.up.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      rec.down.push(Buffer.from(d));
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    messages: () => connections.flatMap((c) => [...parseWs(Buffer.concat(c.up), 'up'), ...parseWs(Buffer.concat(c.down), 'down')]),
    allBytes: () => Buffer.concat(connections.flatMap((c) => [...c.up, ...c.down])),
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** The WebSocket messages of one direction of a connection (nothing if it never upgraded). */
export function parseWs(stream: Buffer, dir: 'up' | 'down'): WsMessage[] {
  const head = stream.indexOf('\r\n\r\n');
  if (head < 0) return [];
  const headers = stream.subarray(0, head).toString('latin1');
  if (!/^GET .* HTTP\/1\.1\r\n[\s\S]*upgrade: websocket/i.test(headers) && !/^HTTP\/1\.1 101/.test(headers)) return [];
  const out: WsMessage[] = [];
  let at = head + 4;
  let parts: Buffer[] = [];
  let opcode = 0;
  while (at + 2 <= stream.length) {
    const b0 = stream[at];
    const b1 = stream[at + 1];
    let len = b1 & 0x7f;
    let p = at + 2;
    if (len === 126) {
      if (p + 2 > stream.length) break;
      len = stream.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (p + 8 > stream.length) break;
      len = Number(stream.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? stream.subarray(p, p + 4) : undefined;
    if (masked) p += 4;
    if (p + len > stream.length) break;
    const payload = Buffer.from(stream.subarray(p, p + len));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    at = p + len;
    const op = b0 & 0x0f;
    if (op >= 8) continue; // ping, pong, close
    if (op !== 0) opcode = op;
    parts.push(payload);
    if (b0 & 0x80) {
      out.push({ dir, opcode, payload: Buffer.concat(parts) });
      parts = [];
    }
  }
  return out;
}
