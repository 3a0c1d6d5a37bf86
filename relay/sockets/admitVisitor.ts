/**
 * The checks a visitor socket must pass before it opens, shared by the upgrade handler and by
 * `GET /v1/visitor/check` (which tells a browser *why* an upgrade failed: browsers hide it).
 */
import { ID_PATTERN, type HttpErrorName } from '../../protocol/index.ts';
import { originAllowed } from '../auth/origin.ts';
import { newVisitorId, verifyVisitorToken } from '../auth/visitorToken.ts';
import type { RelayContext } from '../context.ts';
import type { AccountRecord } from '../store/types.ts';

export type Admission =
  /** `returning`: set for a returning visitor (one that presented its id and token). */
  | { ok: true; account: AccountRecord; visitorId: string; returning?: Returning }
  | { ok: false; name: HttpErrorName; message: string };

/** What admission computed for a returning visitor, kept for its socket's open: no HMAC is computed twice. */
export interface Returning {
  /** The token the client presented, verified: its welcome repeats it. */
  visitorToken: string;
  /** The visitor's tombstone key (metadata/tombstones.ts), for its first metadata touch. */
  tombstoneKey: string;
}

export async function admitVisitor(ctx: RelayContext, query: URLSearchParams, origin: string): Promise<Admission> {
  return admitVisitorNow(ctx, query, origin);
}

/**
 * The same checks, answered without a promise when none needs the store: the account is cached and
 * the visitor is new (a returning visitor's tombstone is looked up in the store). The visitor upgrade
 * then answers before its handler returns, with no promise, microtask or abort watch.
 */
export function admitVisitorNow(ctx: RelayContext, query: URLSearchParams, origin: string): Admission | Promise<Admission> {
  if (ctx.state.shuttingDown) return { ok: false, name: 'shuttingDown', message: 'relay is restarting' };
  const key = query.get('key');
  if (!key) return { ok: false, name: 'missingKey', message: 'key (the account public key) is required' };
  const cached = ctx.accounts.byPublicKeyCached(key);
  if (cached === undefined) return ctx.accounts.byPublicKey(key).then((account) => withAccount(ctx, query, origin, account));
  return withAccount(ctx, query, origin, cached);
}

function withAccount(ctx: RelayContext, query: URLSearchParams, origin: string, account: AccountRecord | null): Admission | Promise<Admission> {
  if (!account) return { ok: false, name: 'unknownKey', message: 'unknown public key' };
  if (!originAllowed(origin || undefined, account.allowedOrigins)) {
    return { ok: false, name: 'forbiddenOrigin', message: 'this origin is not allowed for the account' };
  }
  const visitorId = query.get('vid');
  const vt = query.get('vt');
  if (!visitorId && !vt) return { ok: true, account, visitorId: newVisitorId() };
  // A deleted visitor's id is never reused: its browser must start over with a new one.
  // Tombstones are in the store, so this holds after a restart and on every relay sharing the store.
  const invalid = { ok: false, name: 'visitorTokenInvalid', message: 'visitor id and token do not match; reconnect without them' } as const;
  if (!visitorId || !vt || !ID_PATTERN.test(visitorId) || !verifyVisitorToken(ctx.relaySecret, account.id, visitorId, vt)) return invalid;
  const tombstoneKey = ctx.metadata.tombstoneKeyOf(account.id, visitorId);
  return ctx.metadata.refusesVisitor(account.id, visitorId, tombstoneKey).then((refused): Admission => (refused ? invalid : { ok: true, account, visitorId, returning: { visitorToken: vt, tombstoneKey } }));
}
