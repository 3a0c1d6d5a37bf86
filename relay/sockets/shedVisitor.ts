/**
 * A visitor shed by admission (limits/admission.ts): its socket opens only to be told to come back
 * later. Browsers hide why an upgrade failed (and the embed would then ask /v1/visitor/check, more
 * load), so the answer is a close the page can read: `error {code, message, retryAfterMs}`, then
 * 4503 `try_again_later`. The socket holds no slot, no visitor and no metadata.
 */
import type { WebSocket } from 'uWebSockets.js';
import { Close } from '../../protocol/index.ts';
import type { RelayContext } from '../context.ts';
import type { UpgradeRequest } from '../http/upgradeRequest.ts';
import type { ShedInit, VisitorSocketData } from '../sessions/types.ts';

export type { ShedInit } from '../sessions/types.ts';

export function shedVisitor(ctx: RelayContext, u: UpgradeRequest, retryAfterMs: number, byAddress: boolean): void {
  ctx.metrics.counters.visitors_shed_total++;
  if (byAddress) ctx.metrics.counters.visitors_shed_by_address_total++;
  if (u.aborted) return;
  const data: VisitorSocketData = { data: { kind: 'shed', closed: false, retryAfterMs }, returning: undefined };
  u.res.cork(() => u.res.upgrade(data, u.wsKey, u.wsProtocol, u.wsExtensions, u.context));
}

/** The shed socket opened: tell it when to come back, and close. */
export function closeShed(ws: WebSocket<unknown>, data: ShedInit): void {
  data.closed = true;
  const { code, reason } = Close.tryAgainLater;
  try {
    ws.cork(() => {
      ws.send(JSON.stringify({ t: 'error', code: reason, message: 'the relay is busy admitting visitors: reconnect after retryAfterMs', retryAfterMs: data.retryAfterMs }), false);
      ws.end(code, reason);
    });
  } catch {
    /* already gone */
  }
}
