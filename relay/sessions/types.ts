/** In-memory session state. Holds routing facts only, never page content. */
import type { WebSocket } from 'uWebSockets.js';
import type { AccountRecord } from '../store/types.ts';
import type { TokenBucket } from '../limits/tokenBucket.ts';

export interface SocketBase {
  ip: string;
  closed: boolean;
  msgs: TokenBucket;
}

/** One visitor socket = one browser tab. */
export interface TabData extends SocketBase {
  kind: 'visitor';
  account: AccountRecord;
  visitorId: string;
  tabId: string;
  /** uWS topic carrying this tab's frames to its agents. */
  topic: string;
  bytes: TokenBucket;
  url: string;
  title: string;
  agents: Set<AgentData>;
  lastActive: number;
  lastSnapshotRequest: number;
  /** performance.now() of the last metadata heartbeat. */
  lastTouch: number;
  snapshotTimer?: NodeJS.Timeout;
  ws?: WebSocket<TabData>;
  visitor?: Visitor;
}

export type AgentState = 'idle' | 'pending' | 'watching' | 'following';

export interface AgentData extends SocketBase {
  kind: 'agent';
  accountId: string;
  agentId: string;
  name: string;
  exp: number;
  /** The account's allowed page origins, sent in `ready` for the viewer's replay CSP. */
  pageOrigins?: readonly string[];
  /** The secret key generation its token was minted under, if any: rotating the key closes the socket. */
  secretGeneration?: string;
  state: AgentState;
  /** The visitor and tab this agent asked for (pending), watches, or follows across a navigation. */
  target?: { visitor: Visitor; tabId: string };
  /** Subscribed tab while state is 'watching'. */
  tab?: TabData;
  lagging: boolean;
  laggingSince: number;
  resyncTimes: number[];
  expiryTimer?: NodeJS.Timeout;
  ws?: WebSocket<AgentData>;
}

export interface Visitor {
  key: string;
  account: AccountRecord;
  visitorId: string;
  tabs: Map<string, TabData>;
  /** Agent ids this visitor allowed (kept across navigations within the grace period). */
  consented: Set<string>;
  /** Agent ids granted remote control. */
  control: Set<string>;
  /** Agents waiting for consent. */
  pending: Set<AgentData>;
  /** Agent ids whose control request was passed to the visitor and not answered yet. */
  controlAsked: Set<string>;
  /** From identify(), for the activity log's masked user id. */
  userId?: string;
  email?: string;
  /** Agents whose tab went away (navigation); re-attached when it returns. */
  followers: Set<AgentData>;
  graceTimer?: NodeJS.Timeout;
}
