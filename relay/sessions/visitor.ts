/**
 * A visitor on this relay (router.openTab makes it with its first tab). Compact, like Tab, because
 * nearly every visitor is idle and unwatched: one object of seven fields, nothing else of its own.
 * - Its tabs are held in the TabList it extends (`tabs` is itself, one field): a separate object cost 40 bytes.
 * - The agent-side sets (consent, control, pending, asked, followers) live in one object made at
 *   the first write to any of them; until then each reads as the shared empty set (emptySet.ts).
 * - `touchedAt` is whole seconds, a small integer: a double field is a boxed 16-byte number.
 */
import type { AccountRecord } from '../store/types.ts';
import { emptySet } from './emptySet.ts';
import { TabList } from './tabList.ts';
import type { AgentData, Visitor } from './types.ts';

/** A `touchedAt` long enough ago that the first connect always touches. */
export const NEVER_TOUCHED = -1_000_000;

/** Whole seconds on the relay's monotonic clock, for `touchedAt`. */
export function touchSeconds(nowPerf = performance.now()): number {
  return Math.floor(nowPerf / 1000);
}

/** What a visitor has only once an agent comes. Each set is the shared empty one until written (addTo). */
class AgentSide {
  consented: Set<string> = emptySet();
  control: Set<string> = emptySet();
  pending: Set<AgentData> = emptySet();
  controlAsked: Set<string> = emptySet();
  followers: Set<AgentData> = emptySet();
}

export class VisitorState extends TabList implements Visitor {
  graceTimer: NodeJS.Timeout | undefined = undefined;
  touchedAt = NEVER_TOUCHED;
  touchedIp = '';
  // Set by identify() only: not fields every visitor carries.
  declare userId?: string;
  declare email?: string;
  private agentSide: AgentSide | undefined = undefined;

  constructor(
    readonly account: AccountRecord,
    readonly visitorId: string,
  ) {
    super();
  }

  get tabs(): TabList {
    return this;
  }

  get consented(): Set<string> {
    return this.agentSide?.consented ?? emptySet();
  }
  set consented(s: Set<string>) {
    this.side().consented = s;
  }
  get control(): Set<string> {
    return this.agentSide?.control ?? emptySet();
  }
  set control(s: Set<string>) {
    this.side().control = s;
  }
  get pending(): Set<AgentData> {
    return this.agentSide?.pending ?? emptySet();
  }
  set pending(s: Set<AgentData>) {
    this.side().pending = s;
  }
  get controlAsked(): Set<string> {
    return this.agentSide?.controlAsked ?? emptySet();
  }
  set controlAsked(s: Set<string>) {
    this.side().controlAsked = s;
  }
  get followers(): Set<AgentData> {
    return this.agentSide?.followers ?? emptySet();
  }
  set followers(s: Set<AgentData>) {
    this.side().followers = s;
  }

  private side(): AgentSide {
    return (this.agentSide ??= new AgentSide());
  }
}
