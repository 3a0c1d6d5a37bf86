/**
 * Administrative actions on an account, wherever they come from (the REST API, the account CLI):
 * each is recorded in the activity log and in one log line, so a rotation is never silent.
 */
import type { AccountService } from '../accounts.ts';
import type { Logger } from '../log.ts';
import type { AccountRecord, ActivityType } from '../store/types.ts';

/** Where the activity entry goes: the metadata service in the relay, the store directly in the CLI. */
export type ActivitySink = (accountId: string, type: ActivityType, f: { detail: string }) => void | Promise<void>;

export class AccountAdmin {
  constructor(
    private readonly accounts: AccountService,
    private readonly activity: ActivitySink,
    private readonly log: Logger,
    /** After a rotation: e.g. close this relay's agent sockets opened with tokens of the old key. */
    private readonly onRotated: (account: AccountRecord) => void = () => {},
  ) {}

  /** A new secret key (returned once), or null for an unknown account. `via` says where from. */
  async rotateSecret(accountId: string, via: 'the REST API' | 'the account CLI'): Promise<string | null> {
    const secretKey = await this.accounts.rotateSecret(accountId);
    if (!secretKey) return null;
    const rotated = await this.accounts.byId(accountId); // rotateSecret dropped the cached record
    if (rotated) this.onRotated(rotated);
    await this.activity(accountId, 'secret_rotated', { detail: `secret key rotated over ${via}` });
    this.log.info({ accountId, via }, 'account secret rotated');
    return secretKey;
  }
}
