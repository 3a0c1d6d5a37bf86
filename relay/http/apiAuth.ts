/**
 * Who a REST call is from, under the address's failed-authentication budget (auth/authGate.ts).
 * A secret key verified in the last 30 s is served at once (no scrypt, no budget), so a support team
 * behind the same NAT as an attacker keeps working while the attacker is locked out. Anything else
 * reserves a unit of the budget before it is verified (a secret key also a scrypt slot), given back
 * only if it verifies: past the budget, 429 before the credential is looked at.
 */
import type { AgentClaims } from '../auth/agentToken.ts';
import { verifyAgentToken } from '../auth/agentToken.ts';
import { isRefusal, type AuthRefusal } from '../auth/authGate.ts';
import type { RelayContext } from '../context.ts';
import type { AccountRecord } from '../store/types.ts';
import { sendError, type Pending } from './respond.ts';

export type Caller = { kind: 'admin'; account: AccountRecord } | { kind: 'agent'; account: AccountRecord; agent: AgentClaims };

export type AuthResult = { ok: true; caller: Caller } | { ok: false; refusal?: AuthRefusal };

export async function authenticateCaller(ctx: RelayContext, ip: string, header: string, allowAgent: boolean): Promise<AuthResult> {
  const gate = ctx.apiLimits.auth;
  const credential = /^Bearer +(\S+)$/i.exec(header)?.[1]; // the scheme is case-insensitive (RFC 9110)
  if (credential?.startsWith('sk_')) {
    const account = await ctx.accounts.verifySecretKey(credential, () => gate.reserve(ip, true));
    if (account && isRefusal(account)) return { ok: false, refusal: account };
    return account ? { ok: true, caller: { kind: 'admin', account } } : { ok: false };
  }
  const ticket = gate.reserve(ip, false);
  if (isRefusal(ticket)) return { ok: false, refusal: ticket };
  let caller: Caller | null = null;
  try {
    if (credential && allowAgent) {
      const v = await verifyAgentToken(credential, ctx.relaySecret, (id) => ctx.accounts.byId(id));
      const account = v.ok ? await ctx.accounts.byId(v.claims.accountId) : null;
      if (v.ok && account) caller = { kind: 'agent', account, agent: v.claims };
    }
  } finally {
    ticket.settle(caller !== null);
  }
  return caller ? { ok: true, caller } : { ok: false };
}

/** Answers a failed authentication: 429/503 with Retry-After when refused, else 401. */
export function sendAuthFailure(ctx: RelayContext, p: Pending, result: { refusal?: AuthRefusal }, what: string): void {
  if (result.refusal) {
    ctx.metrics.counters.rate_limited_total++;
    return sendError(p, result.refusal.refused, result.refusal.message, { 'retry-after': String(result.refusal.retryAfterSec) });
  }
  ctx.metrics.counters.http_auth_failures_total++;
  sendError(p, 'unauthorized', `Authorization: Bearer <${what}> is required`, { 'www-authenticate': 'Bearer' });
}
