/**
 * Rotation anywhere ends key-minted agent sockets everywhere: a rotation by another relay or by the
 * account CLI cannot reach this relay's sockets, so every AGENT_REVOCATION_CHECK_MS (≤ 30 s) the
 * key generation (`skg`) of each open agent socket is compared with its account's secret hash as
 * stored now (one read per account with such sockets, past the 30 s cache), and mismatches are
 * closed like a local rotation does (4001, revoked). Operator-minted tokens carry no `skg`.
 */
import type { AccountService } from '../accounts.ts';
import type { Logger } from '../log.ts';
import type { AgentData } from '../sessions/types.ts';
import { closeRevokedAgents } from './revokeAgents.ts';

/** One pass; resolves with the number of sockets closed. */
export async function recheckAgentGenerations(agents: ReadonlySet<AgentData>, accounts: AccountService): Promise<number> {
  const accountIds = new Set<string>();
  for (const a of agents) if (a.secretGeneration !== undefined && !a.closed) accountIds.add(a.accountId);
  let closed = 0;
  for (const id of accountIds) {
    const account = await accounts.byIdUncached(id);
    // A deleted account is not a rotation; its sockets end with their tokens (or a restart).
    if (account) closed += closeRevokedAgents(agents, id, account.secretHash);
  }
  return closed;
}

/** Starts the periodic pass; returns its stop function. Passes never overlap. */
export function startRevocationSweep(agents: ReadonlySet<AgentData>, accounts: AccountService, everyMs: number, log: Logger): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    recheckAgentGenerations(agents, accounts)
      .then((n) => n && log.info({ closed: n }, 'agent sockets closed: their secret key was rotated elsewhere'))
      .catch((err) => log.warn({ err: (err as Error).message }, 'agent revocation check failed; retried at the next pass'))
      .finally(() => (running = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
