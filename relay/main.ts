/** `npm start`: the relay on the embedded store, a demo account, and the URLs to try it. */
import { AccountService } from './accounts.ts';
import { mintAgentToken, secretGeneration } from './auth/agentToken.ts';
import { loadRelaySecret } from './auth/relaySecret.ts';
import { ConfigError, loadConfig } from './config.ts';
import { ensureDemoAccount } from './demo.ts';
import { createLogger } from './log.ts';
import { startRelay } from './server.ts';
import { openStore } from './store/open.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const store = await openStore(config);

  const templateVars: Record<string, string> = {};
  let demo: Awaited<ReturnType<typeof ensureDemoAccount>> | undefined;
  if (config.seedDemo) {
    demo = await ensureDemoAccount(store, new AccountService(store), config);
    templateVars.demoPublicKey = demo.publicKey;
  }

  const relay = await startRelay({ config, store, log, templateVars });
  const base = config.publicUrl;
  log.info({ port: relay.port, store: store.kind }, 'relay listening');

  if (demo) {
    const secret = loadRelaySecret(config.dataDir, config.relaySecret);
    const account = await store.getAccountById(demo.accountId);
    // Short-lived (DEMO_TOKEN_TTL_SEC) and tied to the demo secret key: rotating it revokes the link.
    const ttlSec = config.demoTokenTtlSec;
    const token = mintAgentToken(secret, {
      accountId: demo.accountId, agentId: 'demo-agent', name: 'Demo Agent', ttlSec,
      secretGeneration: account ? secretGeneration(account.secretHash) : undefined,
    });
    const expires = new Date(Date.now() + ttlSec * 1000).toISOString().slice(0, 16).replace('T', ' ');
    // Printed to the terminal for the person who ran `npm start`, never to the log stream.
    process.stderr.write(
      [
        '',
        `  Cobrowse relay on ${base}  (store: ${store.kind}, data: ${config.dataDir})`,
        '  DEMO ONLY, for trying it out: a demo account, its secret key and an agent link are printed below.',
        '  Run production with SEED_DEMO=0 (see README, "Configuration").',
        `  Demo customer page:  ${base}/demo/`,
        `  Agent viewer:        ${base}/agent/#token=${token}`,
        `                       (demo agent token, valid until ${expires} UTC; restart for a new one)`,
        `  Delete visitor data: ${base}/delete/  (sign in with the account secret key)`,
        demo.secretKey ? `  Demo secret key (shown once, stored hashed): ${demo.secretKey}` : '',
        '',
      ].filter((l, i, a) => l !== '' || i === 0 || i === a.length - 1).join('\n') + '\n',
    );
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      log.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, config.shutdownDeadlineMs);
    deadline.unref();
    relay.shutdown().then(
      () => {
        log.info('shutdown complete');
        process.exit(0);
      },
      (err) => {
        log.error({ err: (err as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  console.error(`relay failed to start: ${(err as Error).message}`);
  process.exit(1);
});
