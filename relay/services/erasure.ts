/**
 * Erasure: the one way visitor data is deleted, for the REST API, the delete page (which calls the
 * REST API) and the visitor's own `forget()`. It asks the visitor directory who is live (so their
 * tabs close with 4004), and the metadata service does the rest (tombstones, rows, pending
 * writes, activity scrub, vacuum: docs/erasure.md).
 */
import type { ErasureView } from '../../protocol/rest.ts';
import type { MetadataService } from '../metadata/service.ts';
import type { VisitorDirectory } from './visitorDirectory.ts';

export interface ErasureFilter {
  visitorIds?: string[];
  userIds?: string[];
  emails?: string[];
  /** Also every visitor of the account that is not online now. */
  allOffline?: boolean;
}

export class ErasureService {
  constructor(
    private readonly directory: VisitorDirectory,
    private readonly metadata: MetadataService,
  ) {}

  /** Whether there is anything to erase for this visitor: live, waiting to be written, or stored. */
  async exists(accountId: string, visitorId: string): Promise<boolean> {
    return this.directory.isOnline(accountId, visitorId) || (await this.metadata.hasVisitor(accountId, visitorId));
  }

  /** `by` names who asked, in the `data_deleted` activity entry ("admin", "the visitor"). */
  async erase(accountId: string, filter: ErasureFilter, by = 'admin'): Promise<ErasureView> {
    const match = { visitorIds: filter.visitorIds, userIds: filter.userIds, emails: filter.emails };
    const live = this.directory.online(accountId, match);
    const done = await this.metadata.erase(accountId, match, live, by);
    const ids = new Set([...done.visitorIds, ...live]);
    let activityScrubbed = done.activityScrubbed;
    if (filter.allOffline) {
      const offline = await this.metadata.erase(accountId, { allExcept: this.directory.online(accountId) }, [], by);
      for (const id of offline.visitorIds) ids.add(id);
      activityScrubbed += offline.activityScrubbed;
    }
    return { deleted: ids.size, activityScrubbed };
  }
}
