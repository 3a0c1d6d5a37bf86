/**
 * Child process holding many idle visitor sockets (test/helpers/idleFleet.ts drives it over IPC): a
 * process has a limited number of file descriptors, and a test's relay needs one per socket too.
 */
import { FrameKind } from '../../protocol/index.ts';
import { clientFrame } from '../../scripts/bench/rawWs.ts';
import { closeAll, openIdleVisitors, type IdleVisitor } from './stormClients.ts';

export type FleetRequest =
  | { type: 'open'; port: number; publicKey: string; n: number }
  | { type: 'reconnect' }
  | { type: 'frame' }
  | { type: 'close' };
export type FleetReply = { type: 'ok'; visitorIds: string[] } | { type: 'error'; message: string };

let port = 0;
let publicKey = '';
let fleet: IdleVisitor[] = [];
const reply = (m: FleetReply) => process.send?.(m);

process.on('message', async (m: FleetRequest) => {
  try {
    if (m.type === 'open') {
      ({ port, publicKey } = m);
      fleet = await openIdleVisitors(port, publicKey, m.n);
    } else if (m.type === 'reconnect') {
      await closeAll(fleet);
      fleet = await openIdleVisitors(port, publicKey, fleet.length, { resume: fleet });
    } else if (m.type === 'frame') {
      const payload = Buffer.alloc(16);
      payload[0] = FrameKind.Incremental;
      const wire = clientFrame(0x2, payload);
      for (const v of fleet) v.ws.writeFrame(wire);
    } else if (m.type === 'close') {
      await closeAll(fleet);
      fleet = [];
    }
    reply({ type: 'ok', visitorIds: fleet.map((v) => v.visitorId) });
  } catch (err) {
    reply({ type: 'error', message: (err as Error).message });
  }
});
process.on('disconnect', () => process.exit(0));
