/**
 * A visitor tab's state: one per visitor socket, made at the upgrade and completed at `open`
 * (router.openTab). A class, so every tab has one compact shape from its first line, where the
 * fields were once copied onto uWS's socket object (which turned that object into an ~830-byte
 * dictionary, see VisitorSocketData). What an idle, unwatched tab never needs is made on first use:
 * the topic string here, the token buckets at its first message (visitorSocket.ts), the agents set
 * at its first agent (emptySet.ts).
 */
import type { WebSocket } from 'uWebSockets.js';
import type { TokenBucket } from '../limits/tokenBucket.ts';
import type { AccountRecord } from '../store/types.ts';
import { emptySet } from './emptySet.ts';
import type { AgentData, TabInit, Visitor, VisitorSocketData } from './types.ts';

export function tabTopic(accountId: string, visitorId: string, tabId: string): string {
  return `tab/${accountId}/${visitorId}/${tabId}`;
}

/**
 * Orders a visitor's tabs by their last activity (the most recent one is where a rejoining agent
 * goes): a counter, not a clock, so it stays a small integer (no boxed number per tab).
 */
let activitySeq = 0;
export function nextActivity(): number {
  return ++activitySeq;
}

export class Tab implements TabInit {
  readonly kind = 'visitor' as const;
  closed = false;
  msgs: TokenBucket | undefined = undefined;
  bytes: TokenBucket | undefined = undefined;
  url = '';
  title = '';
  agents: Set<AgentData> = emptySet();
  lastActive = nextActivity();
  lastSnapshotRequest = 0;
  uncheckedBytes = 0;
  snapshotTimer: NodeJS.Timeout | undefined = undefined;
  ws: WebSocket<VisitorSocketData> | undefined = undefined;
  visitor: Visitor | undefined = undefined;
  private topicText: string | undefined = undefined;

  constructor(
    public ip: string,
    readonly account: AccountRecord,
    readonly visitorId: string,
    readonly tabId: string,
  ) {}

  /** Built when first needed (an agent subscribes, a frame is published): an unwatched tab never needs it. */
  get topic(): string {
    return (this.topicText ??= tabTopic(this.account.id, this.visitorId, this.tabId));
  }
}
