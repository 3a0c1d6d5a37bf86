/**
 * The admission shape both socket kinds share: a socket holds one of its client address's
 * MAX_CONNECTIONS_PER_IP slots from its upgrade to its close. Taken last, just before the upgrade
 * (so a refusal earlier never holds one), given back in the close handler.
 */
import type { RelayContext } from '../context.ts';
import type { UpgradeRequest } from '../http/upgradeRequest.ts';
import type { SocketBase } from '../sessions/types.ts';
import { refuseUpgrade } from './refuse.ts';

/**
 * Takes the address's slot and upgrades, or refuses `429 too_many_connections`. False when the
 * socket was not opened, so the caller gives back whatever it had taken for it (a new-visitor token).
 * `userData` is what uWS holds for the socket (by default `data` itself).
 */
export function upgradeWithIpSlot(ctx: RelayContext, u: UpgradeRequest, data: SocketBase, userData: object = data, protocol = u.wsProtocol): boolean {
  if (u.aborted) return false;
  if (!ctx.ipConnections.tryAcquire(data.ip)) {
    refuseUpgrade(u, ctx.metrics, 'tooManyConnections', 'too many connections from this address');
    return false;
  }
  u.res.cork(() => u.res.upgrade(userData, u.wsKey, protocol, u.wsExtensions, u.context));
  return true;
}

/** The close handler's first step: the socket is gone, its slot is free. */
export function releaseIpSlot(ctx: RelayContext, data: SocketBase): void {
  data.closed = true;
  ctx.ipConnections.release(data.ip);
}
