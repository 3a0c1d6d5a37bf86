/**
 * Account CLI.
 *   npm run account -- create --name <n> --origin <o> [--origin <o2>] [--no-consent] [--e2e required|off]
 *                             [--agent-key <public.pem> --agent-key-alg RS256|ES256] [--json]
 *   npm run account -- rotate-secret --account <accountId> [--json]
 *   npm run account -- list [--json]
 * Prints the secret key once; only its scrypt hash is stored. `list` shows ids, names, public keys
 * and origins (never a secret or its hash): how to find the demo account's id after a restart.
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
  'usage: npm run account -- create --name <name> --origin <origin> [--origin ...] [--no-consent] [--e2e required|off] [--agent-key <pem file> --agent-key-alg RS256|ES256] [--json]',
  '       npm run account -- rotate-secret --account <accountId> [--json]',
  '       npm run account -- list [--json]',
].join('\n');

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'rotate-secret') return rotateSecret(rest);
  if (command === 'list') return list(rest);
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
        e2e: { type: 'string', default: 'required' },
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
  if (values.e2e !== 'required' && values.e2e !== 'off') {
    console.error('--e2e must be required or off');
    return 2;
  }
  const store = await openStore(loadConfig());
  try {
    const created = await new AccountService(store).create({
      name: values.name,
      origins: values.origin,
      requireConsent: !values['no-consent'],
      e2e: values.e2e,
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

/** Every account, without secrets: id, name, public key, origins, consent, created. */
async function list(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, strict: true }));
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const store = await openStore(loadConfig());
  try {
    const accounts = (await store.listAccounts()).map((a) => ({
      accountId: a.id,
      name: a.name,
      publicKey: a.publicKey,
      origins: a.allowedOrigins,
      requireConsent: a.requireConsent,
      // Accounts stored before E2E existed have no setting: the relay treats them as `off` (welcome).
      e2e: a.e2e ?? 'off',
      createdAt: a.createdAt.toISOString(),
    }));
    if (values.json) console.log(JSON.stringify(accounts));
    else if (accounts.length === 0) console.log('no accounts');
    else {
      for (const a of accounts) {
        console.log(`${a.accountId}  ${a.name}\n  public key: ${a.publicKey}\n  origins:    ${a.origins.join(' ')}\n  consent:    ${a.requireConsent ? 'required' : 'off'}\n  e2e:        ${a.e2e}\n  created:    ${a.createdAt}`);
      }
      console.log('(secret keys are stored hashed and cannot be shown; `rotate-secret --account <id>` issues a new one)');
    }
    return 0;
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
