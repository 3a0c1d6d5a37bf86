/** `/api/v1/activity`: the activity log (admin), and erasure of one user's entries. */
import { ACTIVITY_TYPES, ID_PATTERN, isActivityType } from '../../protocol/index.ts';
import { validate } from '../../protocol/schema.ts';
import type { RelayContext } from '../context.ts';
import type { ApiRoutes } from './apiRoutes.ts';
import type { ActivityQuery } from '../store/types.ts';
import { ApiError, apiRoute } from './apiRoute.ts';

function dateParam(q: URLSearchParams, name: string): Date | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) throw new ApiError('badRequest', `${name} must be an ISO date`);
  return d;
}

function idParam(q: URLSearchParams, name: string): string | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  if (!ID_PATTERN.test(raw)) throw new ApiError('badRequest', `${name} has an invalid format`);
  return raw;
}

export function registerActivityApi(routes: ApiRoutes, ctx: RelayContext): void {
  routes.get('/api/v1/activity', apiRoute(ctx, { auth: 'admin' }, async ({ caller, query }) => {
    const type = query.get('type') || undefined;
    if (type !== undefined && !isActivityType(type)) throw new ApiError('badRequest', `type must be one of ${ACTIVITY_TYPES.join(', ')}`);
    const limitRaw = query.get('limit');
    const limit = limitRaw ? Number(limitRaw) : 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new ApiError('badRequest', 'limit must be an integer from 1 to 200');
    const cursor = query.get('cursor') || undefined;
    if (cursor && cursor.length > 200) throw new ApiError('badRequest', 'cursor is too long');
    const q: ActivityQuery = {
      visitorId: idParam(query, 'visitorId'),
      agentId: idParam(query, 'agentId'),
      type,
      since: dateParam(query, 'since'),
      until: dateParam(query, 'until'),
      limit,
      cursor,
    };
    const page = await ctx.metadata.listActivity(caller.account.id, q);
    return {
      status: 200,
      body: {
        items: page.items.map(({ userKey: _key, accountId: _acc, at, ...e }) => ({ at: at.toISOString(), ...e })),
        nextCursor: page.nextCursor,
      },
    };
  }));

  routes.post('/api/v1/activity/purge', apiRoute(ctx, { auth: 'admin', bodyLimit: 4096 }, async ({ caller, body }) => {
    const ok = validate(body, { userId: { type: 'string', min: 1, max: 256 } });
    if (!ok.ok) throw new ApiError('badRequest', ok.message);
    const { userId } = body as { userId: string };
    const purged = await ctx.metadata.purgeActivity(caller.account.id, userId);
    return { status: 200, body: { purged } };
  }));
}
