/**
 * Bench child: a fleet of idle visitors (raw sockets, several loopback source addresses) that behave
 * like the embed when their socket closes: reconnect with its real backoff (full jitter, 500 ms
 * doubling to a 30 s cap, reset once open), its push-back rules (4013/4029), and the admission's
 * retry-after on 4503 (waiting retryAfterMs plus up to half again). The browser's /v1/visitor/check
 * call after a failed upgrade is not simulated (the relay is down then, so it would fail too).
 * Driven by scripts/bench/idleStorm.ts over IPC.
 */
import { ADMISSION_RETRY_AFTER_MAX_MS, ADMISSION_RETRY_AFTER_MIN_MS, Close, VISITOR_SOCKET_PATH } from '../../protocol/index.ts';
import { BENCH_ORIGIN } from './ipc.ts';
import { RawWs } from './rawWs.ts';

export type FleetCommand = { type: 'open'; id: number; port: number; publicKey: string; n: number; sources: string[] } | { type: 'status'; id: number } | { type: 'close'; id: number };
export interface FleetStatus {
  type: 'status';
  id: number;
  size: number;
  connected: number;
  welcomes: number;
  shed: number;
  /** Connects that failed before a socket opened (relay down, refused, timed out). */
  failed: number;
  cpuUs: number;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;
const PUSHBACK = new Set<number>([Close.rateLimited.code, Close.overloaded.code]);
const stats = { connected: 0, welcomes: 0, shed: 0, failed: 0 };
let port = 0;
let publicKey = '';
let stopping = false;

class Member {
  private attempt = 0;
  private pushbacks = 0;
  private ids: { vid: string; vt: string; tab: string } | undefined;
  private retryAfterMs = ADMISSION_RETRY_AFTER_MIN_MS;
  ws: RawWs | undefined;
  connected = false;

  constructor(private readonly source: string) {}

  /** Resolves when this attempt ended (welcomed, or failed/closed and rescheduled). */
  connect(): Promise<void> {
    if (stopping) return Promise.resolve();
    const q = new URLSearchParams({ key: publicKey });
    if (this.ids) {
      q.set('vid', this.ids.vid);
      q.set('vt', this.ids.vt);
      q.set('tab', this.ids.tab);
    }
    return new Promise<void>((settled) => {
      let opened = false;
      RawWs.connect({ port, path: `${VISITOR_SOCKET_PATH}?${q}`, localAddress: this.source, headers: { Origin: BENCH_ORIGIN }, timeoutMs: 30_000 }, {}).then(
        (ws) => {
          this.ws = ws;
          opened = true;
          this.attempt = 0;
          ws.setEvents({
            onText: (text) => {
              const m = JSON.parse(text) as { t: string; visitorId?: string; visitorToken?: string; tabId?: string; retryAfterMs?: number };
              if (m.t === 'welcome') {
                this.ids = { vid: String(m.visitorId), vt: String(m.visitorToken), tab: String(m.tabId) };
                this.connected = true;
                stats.connected++;
                stats.welcomes++;
                settled();
              } else if (m.t === 'error' && typeof m.retryAfterMs === 'number') {
                this.retryAfterMs = Math.min(ADMISSION_RETRY_AFTER_MAX_MS, Math.max(ADMISSION_RETRY_AFTER_MIN_MS, m.retryAfterMs));
              }
            },
            onClose: (code) => {
              if (this.connected) stats.connected--;
              this.connected = false;
              this.ws = undefined;
              settled();
              if (stopping) return;
              if (code === Close.tryAgainLater.code) {
                stats.shed++;
                setTimeout(() => void this.connect(), this.retryAfterMs * (1 + Math.random() / 2));
                return;
              }
              if (PUSHBACK.has(code)) this.attempt = Math.min(++this.pushbacks + 2, 16);
              else if (opened) this.pushbacks = 0;
              this.retryLater();
            },
          });
        },
        () => {
          stats.failed++;
          settled();
          this.retryLater();
        },
      );
    });
  }

  private retryLater(): void {
    if (stopping) return;
    const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    setTimeout(() => void this.connect(), delay);
  }
}

let fleet: Member[] = [];
/** How long an `open` waits for shed members to get in on their retries. */
const OPEN_DEADLINE_MS = 120_000;
const cpu0 = process.cpuUsage();

process.on('message', async (m: FleetCommand) => {
  if (m.type === 'open') {
    ({ port, publicKey } = m);
    fleet = Array.from({ length: m.n }, (_, i) => new Member(m.sources[i % m.sources.length]));
    // The first fill: 200 at a time (later reconnects follow the embed's own timing).
    let next = 0;
    await Promise.all(Array.from({ length: 200 }, async () => {
      while (next < fleet.length) await fleet[next++].connect();
    }));
    // A shed connect is retried after its retry-after: the fill is done when every member is in (bounded).
    for (const until = Date.now() + OPEN_DEADLINE_MS; stats.connected < fleet.length && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 50));
    }
  } else if (m.type === 'close') {
    stopping = true;
    for (const f of fleet) f.ws?.terminate();
  }
  const c = process.cpuUsage(cpu0);
  const status: FleetStatus = { type: 'status', id: m.id, size: fleet.length, ...stats, cpuUs: c.user + c.system };
  process.send?.(status);
});
process.on('disconnect', () => process.exit(0));
