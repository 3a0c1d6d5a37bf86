/**
 * Raw probes for authentication tests, from a simulated client address (X-Forwarded-For from the
 * trusted loopback proxy): a REST call, and an agent socket upgrade reported as its HTTP outcome.
 */
import WebSocket from 'ws';
import { AGENT_SOCKET_PATH, agentProtocols } from '../../protocol/endpoints.ts';

export interface Outcome {
  status: number;
  code?: string;
  retryAfter: string | null;
  nosniff: string | null;
}

export async function restCall(port: number, path: string, from: string, authorization?: string, init: RequestInit = {}): Promise<Outcome> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    ...init,
    headers: { 'x-forwarded-for': from, ...(authorization ? { authorization } : {}), ...(init.headers as Record<string, string>) },
  });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text)?.error?.code;
  } catch {
    // not JSON
  }
  return { status: res.status, code, retryAfter: res.headers.get('retry-after'), nosniff: res.headers.get('x-content-type-options') };
}

/** An agent socket upgrade: 101 when it opened (then closed at once), else the refusal. */
export function agentUpgrade(port: number, token: string, from: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${AGENT_SOCKET_PATH}`, agentProtocols(token), { headers: { 'x-forwarded-for': from } });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, retryAfter: null, nosniff: null });
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      const socket = req.socket;
      res.on('end', () => {
        // ws leaves a refused handshake's socket open once we listen for this event; by 'end' Node
        // has marked the request done (req.destroy() is a no-op), so the socket itself is closed.
        socket?.destroy();
        let code: string | undefined;
        try {
          code = JSON.parse(body)?.error?.code;
        } catch {
          // not JSON
        }
        const h = res.headers;
        resolve({ status: res.statusCode ?? 0, code, retryAfter: (h['retry-after'] as string) ?? null, nosniff: (h['x-content-type-options'] as string) ?? null });
      });
    });
    ws.once('error', (err) => reject(err));
  });
}

/** How many of each status. */
export function tally(outcomes: Outcome[]): Record<number, number> {
  const t: Record<number, number> = {};
  for (const o of outcomes) t[o.status] = (t[o.status] ?? 0) + 1;
  return t;
}
