/** The text-frame path shared by visitor and agent sockets: size bound, parse, schema. */
import type { WebSocket } from 'uWebSockets.js';
import { MAX_CONTROL_BYTES, type ParseResult } from '../../protocol/index.ts';
import type { Metrics } from '../metrics.ts';
import { closeWith } from '../sessions/send.ts';
import type { SocketBase } from '../sessions/types.ts';

/** The parsed message, or undefined after closing the socket with the documented code. */
export function readControl<M>(
  ws: WebSocket<unknown>,
  data: SocketBase,
  message: ArrayBuffer,
  metrics: Metrics,
  parse: (text: string) => ParseResult<M>,
): M | undefined {
  metrics.counters.control_messages_total++;
  if (message.byteLength > MAX_CONTROL_BYTES) {
    metrics.counters.bad_messages_total++;
    closeWith(ws, data, 'tooBig', `control messages are limited to ${MAX_CONTROL_BYTES} bytes`);
    return undefined;
  }
  const parsed = parse(Buffer.from(message).toString('utf8'));
  if (!parsed.ok) {
    metrics.counters.bad_messages_total++;
    closeWith(ws, data, 'badMessage', parsed.message);
    return undefined;
  }
  return parsed.msg;
}

/** Runs a uWS callback so that nothing ever throws into uWS. */
export function guarded(log: { error(o: object, m: string): void }, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log.error({ err: (err as Error).message }, `${what} failed`);
  }
}
