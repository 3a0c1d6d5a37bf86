/**
 * `POST /api/v1/agent-tokens` with `Authorization: Bearer <secretKey>`, body `{agentId, name}` -> `201 {token, expiresAt}`.
 * The token names the secret key's generation, so rotating the key revokes it.
 */
import { ID_PATTERN } from '../../protocol/index.ts';
import { validate } from '../../protocol/schema.ts';
import { mintAgentToken, secretGeneration } from '../auth/agentToken.ts';
import type { RelayContext } from '../context.ts';
import type { ApiRoutes } from './apiRoutes.ts';
import { ApiError, apiRoute } from './apiRoute.ts';

export function registerAgentTokens(routes: ApiRoutes, ctx: RelayContext): void {
  routes.post('/api/v1/agent-tokens', apiRoute(ctx, { auth: 'admin', bodyLimit: 4096 }, async ({ caller, body }) => {
    const v = validate(body, {
      agentId: { type: 'string', max: 64, pattern: ID_PATTERN },
      name: { type: 'string', min: 1, max: 100 },
    });
    if (!v.ok) throw new ApiError('badRequest', v.message);
    const { agentId, name } = body as { agentId: string; name: string };
    const { account } = caller;
    const ttl = ctx.config.agentTokenTtlSec;
    // Tied to the secret key's generation: rotating a leaked key revokes what was minted with it.
    const token = mintAgentToken(ctx.relaySecret, { accountId: account.id, agentId, name, ttlSec: ttl, secretGeneration: secretGeneration(account.secretHash) });
    return { status: 201, body: { token, expiresAt: new Date(Date.now() + ttl * 1000).toISOString() } };
  }));
}
