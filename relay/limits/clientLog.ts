/**
 * Log lines that clients cause (a consent answered, an agent joining, a slow agent closed) are
 * rate-limited per client address and overall, so no client can flood the log. What is held back
 * is counted and reported in one line (`client-caused log lines suppressed`) every few seconds.
 */
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { IpRateLimiter } from './ipRateLimiter.ts';
import { TokenBucket } from './tokenBucket.ts';

export interface ClientLogOptions {
  perIpPerMin: number;
  totalPerMin: number;
  /** How often held-back lines are reported (ms). */
  reportEveryMs?: number;
}

type Level = 'info' | 'warn' | 'error';

export class ClientLog {
  private perIp: IpRateLimiter;
  private total: TokenBucket;
  /** Suppressed lines by message; messages are fixed strings from the code, so this stays small. */
  private suppressed = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(private log: Logger, private metrics: Metrics, private o: ClientLogOptions) {
    this.perIp = new IpRateLimiter(o.perIpPerMin / 60, o.perIpPerMin);
    this.total = new TokenBucket(o.totalPerMin / 60, o.totalPerMin);
  }

  start(): void {
    this.timer = setInterval(() => this.report(), this.o.reportEveryMs ?? 10_000);
    this.timer.unref();
  }

  /** Stops the timer and reports what is still held back. */
  stop(): void {
    clearInterval(this.timer);
    this.report();
  }

  info(ip: string, obj: object, msg: string): void {
    this.write('info', ip, obj, msg);
  }

  warn(ip: string, obj: object, msg: string): void {
    this.write('warn', ip, obj, msg);
  }

  error(ip: string, obj: object, msg: string): void {
    this.write('error', ip, obj, msg);
  }

  /** Writes the suppressed-count line if anything was held back since the last one. */
  report(): void {
    if (this.suppressed.size === 0) return;
    const byMessage = Object.fromEntries(this.suppressed);
    const suppressed = [...this.suppressed.values()].reduce((a, b) => a + b, 0);
    this.suppressed.clear();
    this.log.warn({ suppressed, byMessage }, 'client-caused log lines suppressed');
  }

  private write(level: Level, ip: string, obj: object, msg: string): void {
    if (!this.log.isLevelEnabled(level)) return;
    const now = performance.now();
    if (!this.perIp.allows(ip, now) || this.total.available(now) < 1) {
      this.suppressed.set(msg, (this.suppressed.get(msg) ?? 0) + 1);
      this.metrics.counters.log_lines_suppressed_total++;
      return;
    }
    this.perIp.take(ip, now);
    this.total.take(1, now);
    this.log[level](obj, msg);
  }
}
