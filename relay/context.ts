import type { TemplatedApp } from 'uWebSockets.js';
import type { AccountService } from './accounts.ts';
import type { RelayConfig } from './config.ts';
import type { IpConnections } from './limits/ipConnections.ts';
import type { Logger } from './log.ts';
import type { MetadataService } from './metadata/service.ts';
import type { Metrics } from './metrics.ts';
import type { SessionRouter } from './sessions/router.ts';
import type { Store } from './store/types.ts';
import type { ApiLimits } from './http/apiLimits.ts';
import type { ClientLimits } from './limits/clientLimits.ts';
import type { AccountAdmin } from './services/accountAdmin.ts';
import type { ErasureService } from './services/erasure.ts';
import type { VisitorDirectory } from './services/visitorDirectory.ts';
import type { LookupCodes } from './services/lookupCodes.ts';
import type { Cluster } from './cluster/cluster.ts';

/**
 * What the socket and HTTP handlers share. Handlers call the services (metadata, directory,
 * erasure, accountAdmin, accounts); `store` is here for start-up, readiness and tests, never for handlers.
 */
export interface RelayContext {
  app: TemplatedApp;
  config: RelayConfig;
  store: Store;
  accounts: AccountService;
  router: SessionRouter;
  metrics: Metrics;
  metadata: MetadataService;
  /** Who is online, on which tab. */
  directory: VisitorDirectory;
  /** The one way visitor data is deleted. */
  erasure: ErasureService;
  /** Lookup codes (unique across the cluster in cluster mode). */
  lookupCodes: LookupCodes;
  /** Cluster mode (NATS_URL): set once the relay joined the cluster. */
  cluster?: Cluster;
  /** Account actions that are recorded wherever they come from (secret rotation). */
  accountAdmin: AccountAdmin;
  log: Logger;
  relaySecret: Buffer;
  ipConnections: IpConnections;
  apiLimits: ApiLimits;
  /** Budgets for what clients cause in the activity log and the log. */
  clientLimits: ClientLimits;
  state: { shuttingDown: boolean };
}
