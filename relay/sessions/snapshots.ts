/** Asking a tab for a fresh full snapshot (join, late joiner, resync, drained agent), at most every 100 ms. */
import type { Metrics } from '../metrics.ts';
import { sendMessage } from './send.ts';
import type { TabData } from './types.ts';

const SNAPSHOT_REQUEST_MIN_INTERVAL_MS = 100;

export function requestSnapshot(tab: TabData, metrics: Metrics): void {
  const w = tab.watched();
  if (tab.closed || w.snapshotTimer) return;
  const wait = w.lastSnapshotRequest + SNAPSHOT_REQUEST_MIN_INTERVAL_MS - Date.now();
  const send = () => {
    w.snapshotTimer = undefined;
    w.lastSnapshotRequest = Date.now();
    metrics.counters.snapshot_requests_total++;
    sendMessage(tab.ws, tab, { t: 'snapshot-request' });
  };
  if (wait <= 0) send();
  else {
    w.snapshotTimer = setTimeout(send, wait);
    w.snapshotTimer.unref();
  }
}
