/**
 * The REST API's JSON shapes, written once: the relay builds them, the agent viewer and the
 * delete page read them. Described for OpenAPI in protocol/restApi.ts.
 */

/** A visitor as the API shows it. `ip` only to admins; `lookupCode` only while it is valid. */
export interface VisitorView {
  visitorId: string;
  ip?: string;
  lastUrl: string;
  firstSeen: string;
  lastSeen: string;
  online: boolean;
  userId?: string;
  name?: string;
  email?: string;
  lookupCode?: string;
}

export interface VisitorPage {
  items: VisitorView[];
  nextCursor?: string;
}

/** `DELETE /api/v1/visitors/:id` and `POST /api/v1/visitors/delete`. */
export interface ErasureView {
  deleted: number;
  /** Activity entries whose identifiers were removed or pseudonymised. */
  activityScrubbed: number;
}

/** Every kind of activity log entry; the type union derives from this list. */
export const ACTIVITY_TYPES = [
  'session_requested', 'consent_given', 'consent_refused', 'session_ended',
  'control_granted', 'control_revoked', 'data_deleted', 'secret_rotated',
] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

export function isActivityType(s: string): s is ActivityType {
  return (ACTIVITY_TYPES as readonly string[]).includes(s);
}

export interface ActivityView {
  at: string;
  type: ActivityType;
  agentId?: string;
  visitorId?: string;
  userId?: string;
  detail?: string;
}
