/**
 * `/api/v1/visitors`: search and read (admin or agent), delete (admin). An account only
 * ever sees its own visitors; another account's visitor is a plain 404.
 */
import { ID_PATTERN } from '../../protocol/index.ts';
import { validate } from '../../protocol/schema.ts';
import type { RelayContext } from '../context.ts';
import type { ApiRoutes } from './apiRoutes.ts';
import type { VisitorQuery, VisitorRecord } from '../store/types.ts';
import { ApiError, apiRoute, type Caller } from './apiRoute.ts';

const MAX_IDS = 1000;

function view(v: VisitorRecord, online: boolean, caller: Caller, now: number) {
  const out: Record<string, unknown> = {
    visitorId: v.visitorId,
    lastUrl: v.lastUrl,
    firstSeen: v.firstSeen.toISOString(),
    lastSeen: v.lastSeen.toISOString(),
    online,
  };
  // Agents find visitors; they have no need of the IP address. Admins see everything stored.
  if (caller.kind === 'admin') out.ip = v.ip;
  if (v.userId !== undefined) out.userId = v.userId;
  if (v.name !== undefined) out.name = v.name;
  if (v.email !== undefined) out.email = v.email;
  if (v.lookupCode && v.lookupCodeExpiresAt && v.lookupCodeExpiresAt.getTime() > now) out.lookupCode = v.lookupCode;
  return out;
}

function param(q: URLSearchParams, name: string, max: number): string | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (v.length > max) throw new ApiError('badRequest', `${name} is longer than ${max}`);
  return v;
}

function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ApiError('badRequest', `${name} must be an integer from ${min} to ${max}`);
  return n;
}

export function registerVisitorsApi(routes: ApiRoutes, ctx: RelayContext): void {
  const { metadata, router, store } = ctx;

  routes.get('/api/v1/visitors', apiRoute(ctx, { auth: 'adminOrAgent' }, async ({ caller, query }) => {
    const accountId = caller.account.id;
    const onlineParam = query.get('online');
    if (onlineParam !== null && onlineParam !== 'true' && onlineParam !== 'false') throw new ApiError('badRequest', 'online must be true or false');
    const code = param(query, 'code', 6);
    if (code !== undefined && !/^\d{6}$/.test(code)) throw new ApiError('badRequest', 'code must be 6 digits');
    const visitorId = param(query, 'visitorId', 64);
    const sinceDays = intParam(query, 'sinceDays', 0, 0, 3650);
    const now = metadata.now().getTime();
    const online = new Set(router.onlineVisitorIds(accountId));
    const q: VisitorQuery = {
      q: param(query, 'q', 256),
      userId: param(query, 'userId', 256),
      email: param(query, 'email', 254),
      lookupCode: code,
      seenSince: sinceDays ? new Date(now - sinceDays * 86_400_000) : undefined,
      limit: intParam(query, 'limit', 20, 1, 100),
      cursor: param(query, 'cursor', 200),
      // Presence is applied in the store, before paging: a busy account's online visitors are never cut off by older rows.
      onlyVisitorIds: onlineParam === 'true' ? [...online] : undefined,
      exceptVisitorIds: onlineParam === 'false' ? [...online] : undefined,
    };
    await metadata.writer.flush(); // include what the relay saw a moment ago (not forced: never waits out a backoff)
    let items: VisitorRecord[];
    let nextCursor: string | undefined;
    if (visitorId !== undefined) {
      const v = ID_PATTERN.test(visitorId) ? await store.getVisitor(accountId, visitorId) : null;
      items = v ? [v] : [];
    } else {
      ({ items, nextCursor } = await store.searchVisitors(accountId, q));
    }
    if (code !== undefined) items = items.filter((v) => v.lookupCodeExpiresAt && v.lookupCodeExpiresAt.getTime() > now);
    if (onlineParam !== null && visitorId !== undefined) items = items.filter((v) => online.has(v.visitorId) === (onlineParam === 'true'));
    return { status: 200, body: { items: items.map((v) => view(v, online.has(v.visitorId), caller, now)), nextCursor } };
  }));

  routes.get('/api/v1/visitors/:visitorId', apiRoute(ctx, { auth: 'adminOrAgent', params: 1 }, async ({ caller, params }) => {
    const [visitorId] = params;
    await metadata.writer.flush();
    const v = ID_PATTERN.test(visitorId) ? await store.getVisitor(caller.account.id, visitorId) : null;
    if (!v) throw new ApiError('notFound', 'no such visitor');
    const online = router.onlineVisitorIds(caller.account.id, { visitorIds: [visitorId] }).length > 0;
    return { status: 200, body: { visitor: view(v, online, caller, metadata.now().getTime()) } };
  }));

  routes.del('/api/v1/visitors/:visitorId', apiRoute(ctx, { auth: 'admin', params: 1 }, async ({ caller, params }) => {
    const [visitorId] = params;
    if (!ID_PATTERN.test(visitorId)) throw new ApiError('notFound', 'no such visitor');
    const accountId = caller.account.id;
    const live = router.onlineVisitorIds(accountId, { visitorIds: [visitorId] });
    const known = live.length > 0 || metadata.writer.hasPending(accountId, visitorId) || (await store.getVisitor(accountId, visitorId)) !== null;
    if (!known) throw new ApiError('notFound', 'no such visitor');
    const done = await metadata.erase(accountId, { visitorIds: [visitorId] }, live);
    return { status: 200, body: { deleted: new Set([...done.visitorIds, ...live]).size, activityScrubbed: done.activityScrubbed } };
  }));

  routes.post('/api/v1/visitors/delete', apiRoute(ctx, { auth: 'admin', bodyLimit: 256 * 1024 }, async ({ caller, body }) => {
    const ok = validate(body, {
      visitorIds: { type: 'array', max: MAX_IDS, items: { type: 'string', max: 64, pattern: ID_PATTERN }, optional: true },
      userIds: { type: 'array', max: MAX_IDS, items: { type: 'string', min: 1, max: 256 }, optional: true },
      emails: { type: 'array', max: MAX_IDS, items: { type: 'string', min: 3, max: 254 }, optional: true },
      allOffline: { type: 'boolean', optional: true },
    });
    if (!ok.ok) throw new ApiError('badRequest', ok.message);
    const f = body as { visitorIds?: string[]; userIds?: string[]; emails?: string[]; allOffline?: boolean };
    if (!f.visitorIds?.length && !f.userIds?.length && !f.emails?.length && !f.allOffline) {
      throw new ApiError('badRequest', 'give visitorIds, userIds, emails or allOffline: true');
    }
    const accountId = caller.account.id;
    const live = router.onlineVisitorIds(accountId, { visitorIds: f.visitorIds, userIds: f.userIds, emails: f.emails });
    const done = await metadata.erase(accountId, { visitorIds: f.visitorIds, userIds: f.userIds, emails: f.emails }, live);
    const ids = new Set(done.visitorIds);
    let activityScrubbed = done.activityScrubbed;
    if (f.allOffline) {
      const online = router.onlineVisitorIds(accountId);
      const offline = await metadata.erase(accountId, { allExcept: online });
      for (const id of offline.visitorIds) ids.add(id);
      activityScrubbed += offline.activityScrubbed;
    }
    for (const id of live) ids.add(id);
    return { status: 200, body: { deleted: ids.size, activityScrubbed } };
  }));
}
