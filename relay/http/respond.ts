/** HTTP responses for uWS: JSON bodies, the error table, bounded body reading. */
import type { HttpResponse } from 'uWebSockets.js';
import { HttpError, type HttpErrorName } from '../../protocol/index.ts';

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trim();
}

/** A response that may be answered later: tracks abort so nothing writes to a dead response. */
export interface Pending {
  res: HttpResponse;
  aborted: boolean;
  /** Called once if the client goes away first (uWS allows one abort handler per response). */
  onAbort?: () => void;
}

export function pending(res: HttpResponse): Pending {
  const p: Pending = { res, aborted: false };
  res.onAborted(() => {
    p.aborted = true;
    p.onAbort?.();
  });
  return p;
}

export function sendJson(p: Pending, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (p.aborted) return;
  p.res.cork(() => {
    p.res.writeStatus(statusLine(status));
    p.res.writeHeader('content-type', 'application/json; charset=utf-8');
    p.res.writeHeader('cache-control', 'no-store');
    p.res.writeHeader('x-content-type-options', 'nosniff');
    for (const [k, v] of Object.entries(headers)) p.res.writeHeader(k, v);
    p.res.end(JSON.stringify(body));
  });
  p.aborted = true; // answered: nothing more may be written
}

export function sendError(p: Pending, name: HttpErrorName, message: string, headers?: Record<string, string>): void {
  const { status, code } = HttpError[name];
  sendJson(p, status, { error: { code, message } }, headers);
}

export class BodyError extends Error {
  constructor(readonly name: HttpErrorName, message: string) {
    super(message);
  }
}

/** Reads a JSON body of at most `limit` bytes. Chunks are copied: uWS neuters them after the callback. */
export function readJsonBody(p: Pending, contentType: string, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (!/^application\/json\b/i.test(contentType)) {
      reject(new BodyError('unsupportedMediaType', 'content-type must be application/json'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    p.onAbort = () => {
      if (!done) reject(new BodyError('badRequest', 'client went away during the body'));
      done = true;
    };
    p.res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) {
        done = true;
        reject(new BodyError('tooBig', `body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      done = true;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new BodyError('badRequest', 'body is not valid JSON'));
      }
    });
  });
}
