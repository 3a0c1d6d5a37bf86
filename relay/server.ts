/** Builds the relay: uWS app, sockets, REST and static routes, background sweeps, shutdown. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRequest, HttpResponse, us_listen_socket } from 'uWebSockets.js';
import { AGENT_SOCKET_PATH, VISITOR_SOCKET_PATH } from '../protocol/index.ts';
import { AccountService } from './accounts.ts';
import { loadRelaySecret } from './auth/relaySecret.ts';
import type { RelayConfig } from './config.ts';
import type { RelayContext } from './context.ts';
import { registerAccountApi } from './http/accountApi.ts';
import { registerActivityApi } from './http/activityApi.ts';
import { registerAgentTokens } from './http/agentTokens.ts';
import { admitApiRequest, apiLimits } from './http/apiLimits.ts';
import { ApiRoutes } from './http/apiRoutes.ts';
import { registerMetrics } from './http/metricsRoute.ts';
import { registerOpenApi } from './http/openapi.ts';
import { registerVisitorCheck } from './http/visitorCheck.ts';
import { registerVisitorsApi } from './http/visitorsApi.ts';
import { pending, sendError, sendJson } from './http/respond.ts';
import { StaticFiles } from './http/static.ts';
import { clientLimits } from './limits/clientLimits.ts';
import { IpConnections } from './limits/ipConnections.ts';
import type { Logger } from './log.ts';
import { MetadataService } from './metadata/service.ts';
import { Metrics } from './metrics.ts';
import { AccountAdmin } from './services/accountAdmin.ts';
import { ErasureService } from './services/erasure.ts';
import { VisitorDirectory } from './services/visitorDirectory.ts';
import { LOOKUP_CODE_TTL_MS, LookupCodes } from './services/lookupCodes.ts';
import { Cluster } from './cluster/cluster.ts';
import { SessionRouter } from './sessions/router.ts';
import { closeWith } from './sessions/send.ts';
import { agentBehavior } from './sockets/agentSocket.ts';
import { guarded } from './sockets/controlText.ts';
import { closeRevokedAgents } from './sockets/revokeAgents.ts';
import { startRevocationSweep } from './sockets/revocationSweep.ts';
import { visitorBehavior } from './sockets/visitorSocket.ts';
import type { Store } from './store/types.ts';
import { uws, uwsIsNative } from './uwsLoader.ts';

/** uWS's ListenOptions (LIBUS_LISTEN_DEFAULT, LIBUS_LISTEN_EXCLUSIVE_PORT). */
const LISTEN_DEFAULT = 0;
const LISTEN_EXCLUSIVE_PORT = 1;
/** `listen(host, port, options, cb)`: in the binary, missing from the package's typings. */
interface ListenWithOptions {
  listen(host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void): unknown;
}

export const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/public');

export interface Relay {
  ctx: RelayContext;
  port: number;
  /** The REST routes registered (`METHOD /pattern`). */
  apiRoutes: string[];
  /** Stop accepting, close every socket with 1012, close the store. */
  shutdown(): Promise<void>;
}

export interface RelayOptions {
  config: RelayConfig;
  store: Store;
  log: Logger;
  /** The clock for metadata timestamps and retention (tests drive time with it). */
  now?: () => Date;
  /** Values substituted into served HTML (e.g. the demo page's public key). */
  templateVars?: Record<string, string>;
}

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  const { config, store, log } = opts;
  if (!uwsIsNative) {
    log.error('uWebSockets.js native binary did NOT load: running on the slow JS fallback. Use Node 20 on linux-x64/arm64 or darwin.');
  }
  const app = uws.App();
  const metrics = new Metrics();
  const relaySecret = loadRelaySecret(config.dataDir, config.relaySecret);
  // Wired once, here: an erasure ends the deleted visitors' live sessions through the router.
  const metadata = new MetadataService({
    store, metrics, log, secret: relaySecret, now: opts.now,
    retentionDays: config.retentionDays, activityRetentionDays: config.activityRetentionDays, maxPendingVisitors: config.maxPendingVisitorWrites,
    endVisitors: (accountId, ids) => {
      router.endVisitors(accountId, ids);
      ctx.cluster?.endVisitorsEverywhere(accountId, ids);
    },
  });
  const limits = clientLimits(config, metrics, log, metadata);
  const router = new SessionRouter(app, config, metrics, log, metadata, limits);
  const accounts = new AccountService(store, { onScryptRun: () => metrics.counters.scrypt_runs_total++ });
  const directory = new VisitorDirectory(router);
  const ctx: RelayContext = {
    app,
    config,
    store,
    accounts,
    router,
    metrics,
    metadata,
    directory,
    erasure: new ErasureService(directory, metadata),
    lookupCodes: new LookupCodes(),
    accountAdmin: new AccountAdmin(accounts, (a, type, f) => metadata.activity(a, type, f), log, (account) => {
      closeRevokedAgents(router.agents, account.id, account.secretHash);
      ctx.cluster?.rotated(account.id);
    }),
    log,
    relaySecret,
    ipConnections: new IpConnections(config.maxConnectionsPerIp),
    apiLimits: apiLimits(config),
    clientLimits: limits,
    state: { shuttingDown: false },
  };
  if (config.natsUrl) {
    // Before listening: a relay in cluster mode takes no socket it cannot route.
    const cluster = await Cluster.start({ config, router, accounts, metrics, log, relaySecret, lookupCodeTtlMs: LOOKUP_CODE_TTL_MS });
    ctx.cluster = cluster;
    directory.remote = cluster;
    ctx.lookupCodes.claimer = cluster;
  }
  const statics = new StaticFiles(PUBLIC_DIR, { publicUrl: config.publicUrl, ...opts.templateVars });

  app.ws(VISITOR_SOCKET_PATH, visitorBehavior(ctx));
  app.ws(AGENT_SOCKET_PATH, agentBehavior(ctx));
  // Every HTTP route is counted, not just the fallback; `/api/` calls are also rate-limited per address.
  type Handler = (res: HttpResponse, req: HttpRequest) => void;
  const counted = <H,>(h: H): H =>
    ((res: HttpResponse, req: HttpRequest) => {
      metrics.counters.http_requests_total++;
      if (req.getUrl().startsWith('/api/') && !admitApiRequest(ctx, res, req)) return;
      (h as Handler)(res, req);
    }) as H;
  registerVisitorCheck(app, ctx, counted);
  app.get('/healthz', counted((res) => sendJson(pending(res), 200, { status: 'ok', uwsNative: uwsIsNative })));
  app.get('/readyz', counted((res) => {
    const p = pending(res);
    if (ctx.state.shuttingDown) return sendError(p, 'shuttingDown', 'relay is shutting down');
    store.ping().then(
      () => sendJson(p, 200, { status: 'ready', store: store.kind }),
      () => sendError(p, 'shuttingDown', 'store unavailable'),
    );
  }));
  registerMetrics(app, ctx, counted);
  const api = new ApiRoutes(app, counted);
  registerAgentTokens(api, ctx);
  registerVisitorsApi(api, ctx);
  registerActivityApi(api, ctx);
  registerAccountApi(api, ctx);
  registerOpenApi(api, config.publicUrl);
  app.any('/*', counted((res, req) => {
    if (req.getMethod() === 'get' && statics.serve(res, req)) return;
    const p = pending(res);
    const allow = api.allowedMethods(req.getUrl());
    if (allow.length) return sendError(p, 'methodNotAllowed', `${req.getMethod().toUpperCase()} is not allowed here`, { allow: allow.join(', ') });
    sendError(p, 'notFound', 'no such route');
  }));

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    // Exclusive unless asked (config.reusePort): uSockets shares a port between processes by default on Linux.
    const done = (s: us_listen_socket | false) => (s ? resolve(s) : reject(new Error(`cannot listen on ${config.host}:${config.port} (is another relay or program using it?)`)));
    if (uwsIsNative) (app as unknown as ListenWithOptions).listen(config.host, config.port, config.reusePort ? LISTEN_DEFAULT : LISTEN_EXCLUSIVE_PORT, done);
    else app.listen(config.host, config.port, done); // the JS fallback has no options
  });
  const port = uws.us_socket_local_port(listenSocket);

  const sweeper = setInterval(() => guarded(log, 'sweep', () => ctx.router.backpressure.sweep()), 250);
  sweeper.unref();
  const stopRevocationSweep = startRevocationSweep(ctx.router.agents, accounts, config.agentRevocationCheckMs, log);
  metadata.start();
  store.warm?.();
  limits.log.start();

  let shut: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (shut ??= (async () => {
      try {
        ctx.state.shuttingDown = true;
        clearInterval(sweeper);
        stopRevocationSweep();
        uws.us_listen_socket_close(listenSocket);
        for (const agent of [...ctx.router.agents]) closeWith(agent.ws, agent, 'serviceRestart', 'relay is restarting');
        for (const v of [...ctx.router.visitors.values()]) {
          for (const tab of [...v.tabs.values()]) closeWith(tab.ws, tab, 'serviceRestart', 'relay is restarting');
        }
        await ctx.cluster?.stop();
        await metadata.stop();
        limits.log.stop();
        await store.close();
      } finally {
        // Last, once every goodbye above has gone out (and even if a step failed): what is still open
        // (HTTP keep-alive connections, sockets whose peer never answered the close) is cut, instead
        // of holding the process for uWS's idle timeouts (an in-process relay kept its host process
        // up ~10 s after a stop). Not in this package version's typings; present in its binary.
        (app as unknown as { close?: () => void }).close?.();
      }
    })());

  return { ctx, port, apiRoutes: api.registered(), shutdown };
}
