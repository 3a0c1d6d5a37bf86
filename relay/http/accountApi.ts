/**
 * `POST /api/v1/account/rotate-secret` (admin): a new secret key for the caller's account, shown
 * once; the old one stops working at once on this relay and within 30 s on the others (their
 * verification caches), and so do the agent tokens minted with it (agent sockets open here are
 * closed). For a key that is lost rather than leaked: `npm run account -- rotate-secret`.
 */
import type { RelayContext } from '../context.ts';
import { closeRevokedAgents } from '../sockets/revokeAgents.ts';
import type { ApiRoutes } from './apiRoutes.ts';
import { ApiError, apiRoute } from './apiRoute.ts';

export function registerAccountApi(routes: ApiRoutes, ctx: RelayContext): void {
  routes.post('/api/v1/account/rotate-secret', apiRoute(ctx, { auth: 'admin' }, async ({ caller, ip }) => {
    // Each rotation writes `secret_rotated` and a log line: budgeted like every client-caused entry.
    const refusal = ctx.clientLimits.activity.take(ip, caller.account.id);
    if (refusal) throw new ApiError('rateLimited', refusal.message);
    const secretKey = await ctx.accounts.rotateSecret(caller.account.id);
    if (!secretKey) throw new ApiError('notFound', 'no such account');
    const rotated = await ctx.accounts.byId(caller.account.id); // rotateSecret dropped the cached record
    if (rotated) closeRevokedAgents(ctx, rotated.id, rotated.secretHash);
    ctx.metadata.activity(caller.account.id, 'secret_rotated', { detail: 'secret key rotated over the REST API' });
    ctx.log.info({ accountId: caller.account.id }, 'account secret rotated');
    return { status: 200, body: { accountId: caller.account.id, secretKey } };
  }));
}
