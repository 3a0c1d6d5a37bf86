/** In-memory session state. Holds routing facts only, never page content. */
import type { WebSocket } from 'uWebSockets.js';
import type { AccountRecord } from '../store/types.ts';
import type { TokenBucket } from '../limits/tokenBucket.ts';
import type { VisitorEndReason } from '../../protocol/control.ts';
import type { TabList } from './tabList.ts';
import type { TabWatch } from './tabWatch.ts';
import type { TabRate } from '../limits/tabRate.ts';
import type { Returning } from '../sockets/admitVisitor.ts';

export interface SocketBase {
  ip: string;
  closed: boolean;
}

/**
 * What uWS holds for a visitor socket. uWS copies the upgrade's user data onto its socket object one
 * property at a time; past about a dozen properties copied that way V8 makes the object a dictionary
 * (~830 bytes per socket). So the user data is one property, the tab (or, for a shed socket, why).
 */
export interface VisitorSocketData {
  data: TabInit | ShedInit;
  /** A returning visitor's verified token and tombstone key, from its upgrade, for `open`; dropped there. */
  returning: Returning | undefined;
}

/** The user data of a shed socket (sockets/shedVisitor.ts), in place of a tab. */
export interface ShedInit {
  kind: 'shed';
  closed: boolean;
  retryAfterMs: number;
}

/**
 * One visitor socket = one browser tab (sessions/tab.ts). The upgrade builds it; the socket's `open`
 * completes that same object with its socket and visitor (router.openTab), so a `TabData` is whole.
 */
export interface TabInit extends SocketBase {
  readonly kind: 'visitor';
  /** The visitor's (Tab reads both from `visitor`). */
  readonly account: AccountRecord;
  readonly visitorId: string;
  readonly tabId: string;
  /** uWS topic carrying this tab's frames to its agents (built on first use). */
  readonly topic: string;
  /** Message and byte budgets (limits/tabRate.ts): made at the first message (full, as they would be by then). */
  rate: TabRate | undefined;
  url: string;
  title: string;
  /** The agents watching it (the shared empty set until its first agent); added through `watched()`. */
  readonly agents: ReadonlySet<AgentData>;
  /** Orders the visitor's tabs by last activity (router.ts nextActivity), not a time. */
  lastActive: number;
  /** What only a watched tab needs (sessions/tabWatch.ts): undefined until `watched()` first makes it. */
  readonly watch: TabWatch | undefined;
  watched(): TabWatch;
  ws: WebSocket<VisitorSocketData> | undefined;
  /** Whose tab it is: only that (account, id) from the upgrade until `open` puts the visitor here. */
  visitor: VisitorKey;
}

export interface TabData extends TabInit {
  ws: WebSocket<VisitorSocketData>;
  visitor: Visitor;
}

export type AgentState = 'idle' | 'pending' | 'watching' | 'following';

/** What the agent upgrade builds; `open` completes it with the socket (router.openAgent). */
export interface AgentInit extends SocketBase {
  kind: 'agent';
  msgs: TokenBucket;
  accountId: string;
  agentId: string;
  name: string;
  exp: number;
  /** The account's allowed page origins, sent in `ready` for the viewer's replay CSP. */
  pageOrigins?: readonly string[];
  /** The secret key generation its token was minted under, if any: rotating the key closes the socket. */
  secretGeneration?: string;
  state: AgentState;
  /** The viewer's E2E public key and the customer-signed token binding it, as sent with its last `join` (forwarded, never checked here). */
  e2eKey?: string;
  e2eKeyToken?: string;
  /** The visitor and tab this agent asked for (pending), watches, or follows across a navigation. */
  target?: { visitor: Visitor; tabId: string };
  /** Subscribed tab while state is 'watching'. */
  tab?: TabData;
  lagging: boolean;
  laggingSince: number;
  /** Cluster mode: this agent's session is held by the visitor's relay, elsewhere (docs/cluster.md). */
  remote?: RemoteSession;
  resyncTimes: number[];
  expiryTimer?: NodeJS.Timeout;
}

export interface AgentData extends AgentInit {
  ws: WebSocket<AgentData>;
}

/** Which visitor: an account and a visitor id in it. */
export interface VisitorKey {
  readonly account: AccountRecord;
  readonly visitorId: string;
}

/** A visitor on this relay: sessions/visitor.ts (VisitorState). */
export interface Visitor extends VisitorKey {
  readonly tabs: TabList;
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
  graceTimer: NodeJS.Timeout | undefined;
  /** When (whole seconds of performance.now(), visitor.ts touchSeconds) and from where this relay last touched the visitor's metadata (connect or heartbeat). */
  touchedAt: number;
  touchedIp: string;
}

/** On the agent's relay: where its session lives and which tab topic it receives over NATS. */
export interface RemoteSession {
  /** The visitor's relay; undefined while waiting for the visitor to come back on some relay. */
  node?: string;
  visitorId: string;
  tabId?: string;
  /** The tab topic the agent's socket is subscribed to locally (frames arrive over NATS). */
  topic?: string;
}

/**
 * What the router tells cluster mode (unset when the relay runs alone): tabs for the directory,
 * tab switches for agents on other relays, and consent, which holds on every relay.
 */
export interface RouterHooks {
  tabOpened(tab: TabData): void;
  tabChanged(tab: TabData): void;
  tabClosed(tab: TabData): void;
  tabActive(tab: TabData): void;
  /** Consent this agent holds for the visitor on any relay. */
  consented(v: Visitor, agentId: string): boolean;
  consentChanged(v: Visitor, agentId: string, allow: boolean): void;
  /** The visitor pressed Stop sharing / End session here: every relay ends that visitor's agents. */
  visitorEnded(v: Visitor, agentId: string | undefined, reason: VisitorEndReason | undefined): void;
}
