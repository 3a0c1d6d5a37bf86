/**
 * `POST /api/v1/agent-tokens` with `Authorization: Bearer <secretKey>`, body `{agentId, name}` -> `{token, expiresAt}`.
 * The token names the secret key's generation, so rotating the key revokes it.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ID_PATTERN } from '../../protocol/index.ts';
import { validate } from '../../protocol/schema.ts';
import { mintAgentToken, secretGeneration } from '../auth/agentToken.ts';
import type { RelayContext } from '../context.ts';
import { authenticateCaller, sendAuthFailure } from './apiAuth.ts';
import { requestIp } from './apiLimits.ts';
import { BodyError, pending, readJsonBody, sendError, sendJson } from './respond.ts';

const BODY_LIMIT = 4096;

export function agentTokensHandler(ctx: RelayContext) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const p = pending(res);
    const ip = requestIp(ctx, res, req);
    const auth = req.getHeader('authorization');
    const contentType = req.getHeader('content-type');
    // uWS drops body chunks that arrive before onData is attached, and attaching it after an
    // await is too late (the request then hangs): start reading now, check the secret meanwhile.
    const bodyPromise = readJsonBody(p, contentType, BODY_LIMIT);
    bodyPromise.catch(() => {}); // a 401 answers first; the body's own error is then moot
    void (async () => {
      try {
        const authed = await authenticateCaller(ctx, ip, auth, false);
        if (!authed.ok) return sendAuthFailure(ctx, p, authed, 'secretKey'); // answer at once, drain nothing further
        const { account } = authed.caller;
        const body = await bodyPromise;
        const v = validate(body, {
          agentId: { type: 'string', max: 64, pattern: ID_PATTERN },
          name: { type: 'string', min: 1, max: 100 },
        });
        if (!v.ok) return sendError(p, 'badRequest', v.message);
        const { agentId, name } = body as { agentId: string; name: string };
        const ttl = ctx.config.agentTokenTtlSec;
        // Tied to the secret key's generation: rotating a leaked key revokes what was minted with it.
        const token = mintAgentToken(ctx.relaySecret, { accountId: account.id, agentId, name, ttlSec: ttl, secretGeneration: secretGeneration(account.secretHash) });
        sendJson(p, 201, { token, expiresAt: new Date(Date.now() + ttl * 1000).toISOString() });
      } catch (err) {
        if (err instanceof BodyError) return sendError(p, err.name, err.message);
        ctx.log.error({ err: (err as Error).message }, 'agent token request failed');
        sendError(p, 'internal', 'internal error');
      }
    })();
  };
}
