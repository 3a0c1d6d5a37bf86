/**
 * End-to-end encryption, the relay's part: it only carries keys it cannot use. An agent's public
 * key (sent with `join`) goes to the visitor's tab with the consent request and `agent-joined`;
 * the content key the embed wraps for that agent goes back to that agent's sockets whose key it was
 * wrapped for, and to no one else. The relay never sees a content key in the clear.
 */
import type { AgentInfo, E2eKeyMsg } from '../../protocol/index.ts';
import { sendMessage } from './send.ts';
import type { AgentData, TabData } from './types.ts';

/** The agent as the visitor's embed is told about it. */
export function agentInfo(agent: AgentData): AgentInfo {
  return {
    id: agent.agentId,
    name: agent.name,
    ...(agent.e2eKey ? { key: agent.e2eKey } : {}),
    ...(agent.e2eKeyToken ? { keyToken: agent.e2eKeyToken } : {}),
  };
}

/** Returns how many sockets got it (0: the agent left, or no socket has that key: dropped). */
export function routeE2eKey(tab: TabData, msg: E2eKeyMsg): number {
  let n = 0;
  for (const agent of tab.agents) {
    if (agent.agentId !== msg.agentId || agent.e2eKey !== msg.agentKey) continue;
    sendMessage(agent.ws, agent, { t: 'e2e-key', visitorId: tab.visitorId, tabId: tab.tabId, embedKey: msg.embedKey, keyId: msg.keyId, iv: msg.iv, wrapped: msg.wrapped });
    n++;
  }
  return n;
}
