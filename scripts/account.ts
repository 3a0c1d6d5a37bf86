/**
 * Account CLI.
 *   npm run account -- create --name <n> --origin <o> [--origin <o2>] [--no-consent]
 *                             [--agent-key <public.pem> --agent-key-alg RS256|ES256] [--json]
 *   npm run account -- rotate-secret --account <accountId> [--json]
 * Prints the secret key once; only its scrypt hash is stored.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { AccountService } from '../relay/accounts.ts';
import pino from 'pino';
import { loadConfig } from '../relay/config.ts';
import { createLogger } from '../relay/log.ts';
import { newEventId } from '../relay/metadata/eventId.ts';
import { AccountAdmin } from '../relay/services/accountAdmin.ts';
import { openStore } from '../relay/store/open.ts';
import { StoreConflictError } from '../relay/store/types.ts';

const USAGE = [
  'usage: npm run account -- create --name <name> --origin <origin> [--origin ...] [--no-consent] [--agent-key <pem file> --agent-key-alg RS256|ES256] [--json]',
  '       npm run account -- rotate-secret --account <accountId> [--json]',
].join('\n');

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'rotate-secret') return rotateSecret(rest);
  if (command !== 'create') {
    console.error(USAGE);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        name: { type: 'string' },
        origin: { type: 'string', multiple: true },
        'no-consent': { type: 'boolean', default: false },
        'agent-key': { type: 'string' },
        'agent-key-alg': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.name || !values.origin?.length) {
    console.error(USAGE);
    return 2;
  }
  let agentKey: { alg: 'RS256' | 'ES256'; pem: string } | undefined;
  if (values['agent-key']) {
    const alg = values['agent-key-alg'];
    if (alg !== 'RS256' && alg !== 'ES256') {
      console.error('--agent-key-alg must be RS256 or ES256');
      return 2;
    }
    agentKey = { alg, pem: fs.readFileSync(values['agent-key'], 'utf8') };
  }
  const store = await openStore(loadConfig());
  try {
    const created = await new AccountService(store).create({
      name: values.name,
      origins: values.origin,
      requireConsent: !values['no-consent'],
      agentKey,
    });
    if (values.json) {
      console.log(JSON.stringify(created));
    } else {
      console.log(`account id:  ${created.accountId}\npublic key:  ${created.publicKey}\nsecret key:  ${created.secretKey}\n(the secret key is shown once; store it now)`);
    }
    return 0;
  } catch (err) {
    if (err instanceof StoreConflictError) console.error(`error: ${err.message}`);
    else console.error(`error: ${(err as Error).message}`);
    return 1;
  } finally {
    await store.close();
  }
}

/** A lost or leaked secret key: issue a new one (shown once); the old one stops working. */
async function rotateSecret(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { account: { type: 'string' }, json: { type: 'boolean', default: false } }, strict: true }));
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.account) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig();
  const store = await openStore(config);
  try {
    // Recorded like a rotation over the REST API: a `secret_rotated` entry (written straight to the
    // store: no relay runs here) and a log line, on stderr so stdout stays the key alone.
    const admin = new AccountAdmin(
      new AccountService(store),
      (accountId, type, f) => store.appendActivity([{ accountId, at: new Date(), type, eventId: newEventId(), detail: f.detail }]),
      createLogger(config.logLevel, pino.destination({ fd: 2, sync: true })),
    );
    const secretKey = await admin.rotateSecret(values.account, 'the account CLI');
    if (!secretKey) {
      console.error(`error: no account ${JSON.stringify(values.account)}`);
      return 1;
    }
    if (values.json) console.log(JSON.stringify({ accountId: values.account, secretKey }));
    else console.log(`secret key:  ${secretKey}\n(the new key works at once; a relay that is running accepts the old one for at most 30 s more)`);
    return 0;
  } finally {
    await store.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(1);
  },
);
