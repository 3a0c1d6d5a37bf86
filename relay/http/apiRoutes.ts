/**
 * The REST routes: each is registered on the uWS app through the relay's wrapper (counted,
 * rate-limited) and remembered, so a known path called with another method gets `405` with the
 * `Allow` header derived from what is really registered. Only routes described in
 * protocol/restApi.ts may be registered (the OpenAPI document is generated from that description).
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { routeSpec, type Method } from '../../protocol/restApi.ts';

type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** `/api/v1/visitors/:visitorId` → a regular expression matching such paths. */
function patternToRegExp(pattern: string): RegExp {
  const source = pattern
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

export class ApiRoutes {
  private readonly table: Array<{ re: RegExp; method: Method; pattern: string }> = [];

  constructor(
    private readonly app: TemplatedApp,
    private readonly wrap: (h: Handler) => Handler,
  ) {}

  get(pattern: string, h: Handler): void {
    this.remember('GET', pattern);
    this.app.get(pattern, this.wrap(h));
  }

  post(pattern: string, h: Handler): void {
    this.remember('POST', pattern);
    this.app.post(pattern, this.wrap(h));
  }

  del(pattern: string, h: Handler): void {
    this.remember('DELETE', pattern);
    this.app.del(pattern, this.wrap(h));
  }

  /** The methods registered for this path (several patterns may match it), or none. */
  allowedMethods(path: string): string[] {
    return [...new Set(this.table.filter((r) => r.re.test(path)).map((r) => r.method))];
  }

  /** What is registered, as `METHOD /pattern` (checked against the description in a test). */
  registered(): string[] {
    return this.table.map((r) => `${r.method} ${r.pattern}`);
  }

  private remember(method: Method, pattern: string): void {
    routeSpec(method, pattern); // throws for a route nobody described
    this.table.push({ re: patternToRegExp(pattern), method, pattern });
  }
}
