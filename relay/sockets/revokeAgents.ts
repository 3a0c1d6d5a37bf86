/**
 * After a secret key rotation, agent sockets opened with tokens minted under the old key are closed
 * (4001, "revoked"), so a token minted with a leaked key stops working on this relay at once, not
 * only at its next upgrade or REST call. Sockets on other relays (or after a CLI rotation) are closed
 * by their relay's periodic check (revocationSweep.ts) within AGENT_REVOCATION_CHECK_MS.
 */
import { secretGeneration } from '../auth/agentToken.ts';
import { closeWith } from '../sessions/send.ts';
import type { AgentData } from '../sessions/types.ts';

export function closeRevokedAgents(agents: Iterable<AgentData>, accountId: string, newSecretHash: string): number {
  const current = secretGeneration(newSecretHash);
  let closed = 0;
  for (const agent of [...agents]) {
    if (agent.accountId !== accountId || agent.secretGeneration === undefined || agent.secretGeneration === current) continue;
    closeWith(agent.ws, agent, 'tokenExpired', 'agent token revoked: the account secret key was rotated');
    closed++;
  }
  return closed;
}
