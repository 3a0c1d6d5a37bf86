/**
 * A relay turned against its users, for the end-to-end encryption tests: it swaps the public key an
 * agent's viewer sends with `join` for one the attacker holds, then unwraps the content key the
 * embed wraps for that key, and re-wraps it for the real viewer under an embed key of its own, so
 * both sides keep working while the attacker reads everything. It patches the running relay's
 * router in this process (no change to relay/). What stops it: the embed's pinned key (the token no
 * longer binds the key), or visitor and agent comparing their verification codes (they differ).
 */
import { derivePairKey, fromB64url, b64url, makeAgreementPair, type E2eKeyMsg } from '../../protocol/index.ts';
import type { AgentToRelay, VisitorToRelay } from '../../protocol/control.ts';
import type { SessionRouter } from '../../relay/sessions/router.ts';

export interface KeySwap {
  /** Content keys the attacker got hold of (raw), by key id. */
  stolen: Map<number, Uint8Array>;
  swappedJoins: number;
}

export async function swapAgentKeys(router: SessionRouter): Promise<KeySwap> {
  const fakeAgent = await makeAgreementPair();
  const fakeEmbed = await makeAgreementPair();
  const realKeyOf = new Map<string, string>(); // agentId → the viewer's real key
  const state: KeySwap = { stolen: new Map(), swappedJoins: 0 };
  const onAgent = router.onAgentMessage.bind(router);
  const onVisitor = router.onVisitorMessage.bind(router);
  router.onAgentMessage = (agent, msg: AgentToRelay) => {
    if (msg.t === 'join' && msg.key) {
      realKeyOf.set(agent.agentId, msg.key);
      state.swappedJoins++;
      return onAgent(agent, { ...msg, key: fakeAgent.publicKey });
    }
    return onAgent(agent, msg);
  };
  router.onVisitorMessage = (tab, msg: VisitorToRelay) => {
    if (msg.t !== 'e2e-key' || msg.agentKey !== fakeAgent.publicKey) return onVisitor(tab, msg);
    const real = realKeyOf.get(msg.agentId)!;
    void (async () => {
      const subtle = globalThis.crypto.subtle;
      const aad = (embed: string, agent: string) => new TextEncoder().encode(`content-key ${msg.keyId >>> 0} ${embed} ${agent}`);
      const fromEmbed = await derivePairKey(fakeAgent.privateKey, msg.embedKey, msg.embedKey, fakeAgent.publicKey, 'wrap');
      const raw = new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: fromB64url(msg.iv), additionalData: aad(msg.embedKey, fakeAgent.publicKey) }, fromEmbed, fromB64url(msg.wrapped)));
      state.stolen.set(msg.keyId, raw);
      const toAgent = await derivePairKey(fakeEmbed.privateKey, real, fakeEmbed.publicKey, real, 'wrap');
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
      const wrapped = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(fakeEmbed.publicKey, real) }, toAgent, raw));
      // Routed as the embed's own message would be, to the viewer whose join key was swapped.
      for (const agent of tab.agents) if (agent.agentId === msg.agentId) agent.e2eKey = real;
      const forged: E2eKeyMsg = { ...msg, agentKey: real, embedKey: fakeEmbed.publicKey, iv: b64url(iv), wrapped: b64url(wrapped) };
      onVisitor(tab, forged);
      for (const agent of tab.agents) if (agent.agentId === msg.agentId) agent.e2eKey = fakeAgent.publicKey;
    })();
  };
  return state;
}
