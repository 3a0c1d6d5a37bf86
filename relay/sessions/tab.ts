/**
 * A visitor tab's state: one per visitor socket, made at the upgrade and completed at `open`
 * (router.openTab). A class, so every tab has one compact shape from its first line, where the
 * fields were once copied onto uWS's socket object (which turned that object into an ~830-byte
 * dictionary, see VisitorSocketData). What an idle, unwatched tab never needs is made on first use:
 * the message and byte budgets at its first message (visitorSocket.ts), its agents, topic and snapshot pacing
 * at its first agent (tabWatch.ts).
 */
import type { WebSocket } from 'uWebSockets.js';
import type { TabRate } from '../limits/tabRate.ts';
import type { AccountRecord } from '../store/types.ts';
import { emptySet } from './emptySet.ts';
import { TabWatch } from './tabWatch.ts';
import type { AgentData, TabInit, VisitorKey, VisitorSocketData } from './types.ts';

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
  closed = false;
  rate: TabRate | undefined = undefined;
  url = '';
  title = '';
  lastActive = nextActivity();
  ws: WebSocket<VisitorSocketData> | undefined = undefined;
  /** The key from the upgrade; the visitor itself from `open` (router.openTab). */
  visitor: VisitorKey;
  /** Undefined until the tab is first watched (or its topic first needed): see `watched()`. */
  watch: TabWatch | undefined = undefined;

  constructor(
    public ip: string,
    account: AccountRecord,
    visitorId: string,
    readonly tabId: string,
  ) {
    this.visitor = { account, visitorId };
  }

  /**
   * Read from `visitor`, not held twice (8 bytes each per tab). Once open, that is the visitor's
   * record, which may be older than this tab's upgrade read (accounts are re-read every 30 s): only
   * its id is used after `open`.
   */
  get account(): AccountRecord {
    return this.visitor.account;
  }

  get visitorId(): string {
    return this.visitor.visitorId;
  }

  /** On the prototype, not a field: the same for every tab, so no 8 bytes per tab for it. */
  get kind(): 'visitor' {
    return 'visitor';
  }

  /** The watch state, made on first use. */
  watched(): TabWatch {
    return (this.watch ??= new TabWatch(tabTopic(this.account.id, this.visitorId, this.tabId)));
  }

  /** The agents watching the tab; the shared empty set while it was never watched. */
  get agents(): ReadonlySet<AgentData> {
    return this.watch?.agents ?? emptySet();
  }

  /** Built when first needed (an agent subscribes): an unwatched tab never needs it. */
  get topic(): string {
    return this.watched().topic;
  }
}
