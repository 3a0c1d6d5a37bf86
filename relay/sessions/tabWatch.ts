/**
 * What only a watched tab needs: its agents, its topic, the snapshot-request pacing and the
 * backpressure byte count. Made on first use (the tab's first agent, or its topic), so an idle,
 * unwatched tab carries one empty field instead of five (~40 bytes of heap per visitor).
 */
import type { AgentData } from './types.ts';

export class TabWatch {
  /** Agents (local, and cluster proxies) subscribed to the tab's topic. */
  readonly agents = new Set<AgentData>();
  /** Date.now() of the last `snapshot-request` sent to the tab (snapshots.ts). */
  lastSnapshotRequest = 0;
  /** Bytes published to the tab since its agents' buffers were last looked at (backpressure.ts). */
  uncheckedBytes = 0;
  /** A `snapshot-request` held back by the minimum interval (snapshots.ts). */
  snapshotTimer: NodeJS.Timeout | undefined = undefined;

  /** `topic`: the uWS topic carrying the tab's frames to its agents. */
  constructor(readonly topic: string) {}
}
