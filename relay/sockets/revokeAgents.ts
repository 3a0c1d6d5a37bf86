/**
 * After a secret key rotation, agent sockets opened with tokens minted under the old key are closed
 * (4001, "revoked"), so a token minted with a leaked key stops working on this relay at once, not
 * only at its next upgrade or REST call. Sockets on other relays close at their next reconnect.
 */
import { secretGeneration } from '../auth/agentToken.ts';
import type { RelayContext } from '../context.ts';
import { closeWith } from '../sessions/send.ts';

export function closeRevokedAgents(ctx: RelayContext, accountId: string, newSecretHash: string): number {
  const current = secretGeneration(newSecretHash);
  let closed = 0;
  for (const agent of [...ctx.router.agents]) {
    if (agent.accountId !== accountId || agent.secretGeneration === undefined || agent.secretGeneration === current) continue;
    closeWith(agent.ws, agent, 'tokenExpired', 'agent token revoked: the account secret key was rotated');
    closed++;
  }
  return closed;
}
