/** Keyset-pagination cursors: opaque to clients, `<time ms>:<tie-breaker>` inside. */
export function encodeCursor(timeMs: number, tie: string): string {
  return Buffer.from(`${timeMs}:${tie}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): { timeMs: number; tie: string } | undefined {
  if (!cursor) return undefined;
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const i = raw.indexOf(':');
  const timeMs = Number(raw.slice(0, i));
  if (i < 1 || !Number.isFinite(timeMs)) throw new CursorError('invalid cursor');
  return { timeMs, tie: raw.slice(i + 1) };
}

export class CursorError extends Error {
  readonly code = 'bad_request';
}
