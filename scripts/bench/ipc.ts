/** IPC messages shared by the bench parent and its relay / generator children. */

export interface RelayReady {
  type: 'ready';
  port: number;
  publicKey: string;
  /** One agent token per agent slot (agentIds a0..aN-1). */
  tokens: string[];
  /** 'uws' for the real relay; the others are reference relays (scripts/bench/relayHandle.ts). */
  impl: 'uws' | 'uws-bare' | 'ws-baseline' | 'socketio';
  /** How clients talk to it (default 'plain': our protocol). */
  dialect?: 'plain' | 'socketio';
  /** True when the uWebSockets.js native binary is loaded (always false for the baseline). */
  native: boolean;
}

export interface StatsRequest {
  type: 'stats';
  id: number;
  /** Collect garbage first (the children run with --expose-gc), for memory figures. */
  gc?: boolean;
}

export interface RelayStats {
  type: 'stats';
  id: number;
  /** process.cpuUsage() of the relay process, µs. */
  user: number;
  system: number;
  /** CPU of the relay's main (event-loop) thread alone, µs, 10 ms resolution; the rest of user + system is its other threads (GC helpers, workers). */
  mainThreadUs: number;
  /** BENCH_THREADS=1 only: every thread's CPU, µs, keyed by thread id minus the process id. */
  threadsUs?: Record<string, number>;
  rss: number;
  /** V8 heap in use (process.memoryUsage().heapUsed) and ArrayBuffer/external memory. */
  heapUsed: number;
  /** V8 heap committed (process.memoryUsage().heapTotal): heapUsed plus free space V8 keeps, e.g. a grown young generation. */
  heapTotal: number;
  /** Resident bytes of the malloc heap (`[heap]` in /proc/self/smaps), on requests with `gc` only; NaN otherwise. */
  mallocHeap: number;
  external: number;
  /** Event-loop delay over the last stats interval, ms (monitorEventLoopDelay, 10 ms resolution): max and p99. */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
  /** Relay-side counters where the implementation has them (uWS relay: its Metrics). */
  counters: Record<string, number>;
  gauges: Record<string, number>;
}

export type ParentToRelay = StatsRequest | { type: 'exit' };
export type RelayToParent = RelayReady | RelayStats;

/** Number of agent tokens every relay child mints. */
export const AGENT_SLOTS = 8;
export const BENCH_ORIGIN = 'http://bench.local';
