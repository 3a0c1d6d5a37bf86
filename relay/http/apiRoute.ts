/**
 * One wrapper for every REST route: reads the headers and (for bodies) starts reading
 * synchronously as uWS requires, authenticates, maps thrown errors to the error table.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { HttpErrorName } from '../../protocol/index.ts';
import type { RelayContext } from '../context.ts';
import { CursorError } from '../store/cursor.ts';
import { authenticateCaller, sendAuthFailure, type Caller } from './apiAuth.ts';
import { requestIp } from './apiLimits.ts';
import { BodyError, pending, readJsonBody, sendError, sendJson } from './respond.ts';

export type { Caller } from './apiAuth.ts';

export interface ApiRequest {
  caller: Caller;
  /** The client's address (for per-address budgets). */
  ip: string;
  query: URLSearchParams;
  params: string[];
  body: unknown;
}

export class ApiError extends Error {
  constructor(readonly name: HttpErrorName, message: string) {
    super(message);
  }
}

export interface RouteOptions {
  /** Who may call: the account's secret key only, or also an agent token of that account. */
  auth: 'admin' | 'adminOrAgent';
  /** JSON body limit in bytes; absent for routes without a body. */
  bodyLimit?: number;
  /** How many `:params` the pattern has. */
  params?: number;
}

export function apiRoute(
  ctx: RelayContext,
  opts: RouteOptions,
  handler: (r: ApiRequest) => Promise<{ status: number; body: unknown }>,
) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const p = pending(res);
    const ip = requestIp(ctx, res, req);
    const authHeader = req.getHeader('authorization');
    const query = new URLSearchParams(req.getQuery() ?? '');
    const params = Array.from({ length: opts.params ?? 0 }, (_, i) => decodeURIComponent(req.getParameter(i) ?? ''));
    let bodyPromise: Promise<unknown> = Promise.resolve(undefined);
    if (opts.bodyLimit !== undefined) {
      bodyPromise = readJsonBody(p, req.getHeader('content-type'), opts.bodyLimit);
      bodyPromise.catch(() => {}); // a 401 answers first; the body's own error is then moot
    }
    void (async () => {
      try {
        const auth = await authenticateCaller(ctx, ip, authHeader, opts.auth === 'adminOrAgent');
        if (!auth.ok) {
          return sendAuthFailure(ctx, p, auth, opts.auth === 'admin' ? 'the account secret key' : 'the account secret key or an agent token');
        }
        const { caller } = auth;
        const body = await bodyPromise;
        const out = await handler({ caller, ip, query, params, body });
        sendJson(p, out.status, out.body);
      } catch (err) {
        if (err instanceof BodyError || err instanceof ApiError) return sendError(p, err.name, err.message);
        if (err instanceof CursorError) return sendError(p, 'badRequest', err.message);
        ctx.log.error({ err: (err as Error).message }, 'API request failed');
        sendError(p, 'internal', 'internal error');
      }
    })();
  };
}
