/**
 * The relay's one NATS connection: reconnects forever (a NATS outage must not end local sessions),
 * and tells its listeners when it goes and comes back.
 */
import { connect, type NatsConnection } from 'nats';
import type { Logger } from '../log.ts';

export interface ClusterConnection {
  nc: NatsConnection;
  /** False between a disconnect and the reconnect. */
  readonly up: boolean;
  onChange(fn: (up: boolean) => void): void;
  /** Largest message the server accepts (bytes). */
  maxPayload(): number;
  close(): Promise<void>;
}

const FIRST_CONNECT_TIMEOUT_MS = 10_000;

export async function connectCluster(url: string, nodeId: string, log: Logger): Promise<ClusterConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url.split(',').map((s) => s.trim()).filter(Boolean),
      name: `cobrowse-relay ${nodeId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: 5000,
      maxPingOut: 2,
      timeout: FIRST_CONNECT_TIMEOUT_MS,
      // Otherwise every request (each directory put and delete) captures a stack trace for an error it
      // will almost never raise: about 13 % of a cluster relay's CPU during a connect storm
      // (bench/RESULTS.md, "Twelfth pass"). Its errors are logged by message only anyway.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${withoutCredentials(url)}: ${(err as Error).message}`);
  }
  let up = true;
  const listeners: Array<(up: boolean) => void> = [];
  const set = (v: boolean) => {
    if (up === v) return;
    up = v;
    log.warn({ nats: v ? 'reconnected' : 'disconnected' }, v ? 'NATS connection back: cluster traffic resumes' : 'NATS connection lost: cross-relay sessions pause, local ones go on');
    for (const fn of listeners) fn(v);
  };
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') set(false);
      else if (s.type === 'reconnect') set(true);
    }
  })().catch(() => {});
  return {
    nc,
    get up() {
      return up && !nc.isClosed();
    },
    onChange: (fn) => listeners.push(fn),
    maxPayload: () => nc.info?.max_payload ?? 1024 * 1024,
    close: async () => {
      await nc.drain().catch(() => nc.close());
    },
  };
}

/** NATS_URL may carry `user:password@` or a token: never let it reach a log line or an error. */
export function withoutCredentials(urls: string): string {
  return urls.replace(/\/\/[^/@,\s]*@/g, '//***@');
}
