/**
 * The REST API, described once: the relay registers exactly these routes (test/api.openapi checks
 * it both ways) and serves an OpenAPI 3.1 document generated from this at `GET /api/v1/openapi.json`
 * (relay/http/openapi.ts). JSON Schema fragments only: protocol/ has no dependencies.
 */
import { ACTIVITY_TYPES } from './rest.ts';

export type Json = { [k: string]: unknown };
export type Auth = 'admin' | 'adminOrAgent' | 'none';
export type Method = 'GET' | 'POST' | 'DELETE';

export interface QueryParam {
  name: string;
  schema: Json;
  description: string;
}

export interface RouteSpec {
  method: Method;
  /** uWS pattern: `:name` segments are path parameters. */
  path: string;
  auth: Auth;
  summary: string;
  query?: QueryParam[];
  /** JSON request body schema. */
  body?: Json;
  /** Success status and body schema. */
  status: number;
  response: Json;
  /** Error statuses this route answers besides the common ones (401, 429, 500). */
  errors?: number[];
}

const str = (maxLength: number, extra: Json = {}): Json => ({ type: 'string', maxLength, ...extra });
const id = str(64, { pattern: '^[A-Za-z0-9_-]{1,64}$' });
const q = (name: string, schema: Json, description: string): QueryParam => ({ name, schema, description });

export const schemas: Record<string, Json> = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
  },
  Visitor: {
    type: 'object',
    required: ['visitorId', 'lastUrl', 'firstSeen', 'lastSeen', 'online'],
    properties: {
      visitorId: { type: 'string' }, ip: { type: 'string', description: 'admins only' }, lastUrl: { type: 'string' },
      firstSeen: { type: 'string', format: 'date-time' }, lastSeen: { type: 'string', format: 'date-time' }, online: { type: 'boolean' },
      userId: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' }, lookupCode: { type: 'string', description: 'only while valid' },
    },
  },
  Activity: {
    type: 'object',
    required: ['at', 'type'],
    properties: {
      at: { type: 'string', format: 'date-time' }, type: { type: 'string', enum: [...ACTIVITY_TYPES] },
      agentId: { type: 'string' }, visitorId: { type: 'string' }, userId: { type: 'string' }, detail: { type: 'string' },
    },
  },
  Erasure: {
    type: 'object',
    required: ['deleted', 'activityScrubbed'],
    properties: { deleted: { type: 'integer' }, activityScrubbed: { type: 'integer' } },
  },
};

const ref = (name: keyof typeof schemas & string): Json => ({ $ref: `#/components/schemas/${name}` });
const page = (item: Json): Json => ({ type: 'object', required: ['items'], properties: { items: { type: 'array', items: item }, nextCursor: { type: 'string' } } });

export const MAX_ERASURE_IDS = 1000;

export const routes: RouteSpec[] = [
  {
    method: 'GET', path: '/api/v1/openapi.json', auth: 'none', status: 200,
    summary: 'This document', response: { type: 'object' },
  },
  {
    method: 'POST', path: '/api/v1/agent-tokens', auth: 'admin', status: 201,
    summary: 'Mint an agent token (revoked when the secret key is rotated)',
    body: { type: 'object', additionalProperties: false, required: ['agentId', 'name'], properties: { agentId: id, name: str(100, { minLength: 1 }) } },
    response: { type: 'object', required: ['token', 'expiresAt'], properties: { token: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } } },
    errors: [400, 413, 415],
  },
  {
    method: 'GET', path: '/api/v1/visitors', auth: 'adminOrAgent', status: 200,
    summary: 'Search visitors, newest first, paginated',
    query: [
      q('q', str(256), 'matches user id, name, email or URL'), q('userId', str(256), 'exact user id'), q('email', str(254), 'exact email'),
      q('code', str(6, { pattern: '^\\d{6}$' }), 'a valid lookup code'), q('visitorId', str(64), 'one visitor'),
      q('online', { type: 'string', enum: ['true', 'false'] }, 'only online or offline visitors'),
      q('sinceDays', { type: 'integer', minimum: 0, maximum: 3650 }, 'seen in the last n days'),
      q('limit', { type: 'integer', minimum: 1, maximum: 100, default: 20 }, 'page size'), q('cursor', str(200), 'from nextCursor'),
    ],
    response: page(ref('Visitor')), errors: [400],
  },
  {
    method: 'GET', path: '/api/v1/visitors/:visitorId', auth: 'adminOrAgent', status: 200,
    summary: 'One visitor (another account\'s is 404)',
    response: { type: 'object', required: ['visitor'], properties: { visitor: ref('Visitor') } }, errors: [404],
  },
  {
    method: 'DELETE', path: '/api/v1/visitors/:visitorId', auth: 'admin', status: 200,
    summary: 'Erase one visitor: tabs closed (4004), rows gone, activity scrubbed, id refused from then on',
    response: ref('Erasure'), errors: [404],
  },
  {
    method: 'POST', path: '/api/v1/visitors/delete', auth: 'admin', status: 200,
    summary: 'Erase visitors by id, user id, email, or every offline visitor; idempotent',
    body: {
      type: 'object', additionalProperties: false,
      properties: {
        visitorIds: { type: 'array', maxItems: MAX_ERASURE_IDS, items: id },
        userIds: { type: 'array', maxItems: MAX_ERASURE_IDS, items: str(256, { minLength: 1 }) },
        emails: { type: 'array', maxItems: MAX_ERASURE_IDS, items: str(254, { minLength: 3 }) },
        allOffline: { type: 'boolean' },
      },
    },
    response: ref('Erasure'), errors: [400, 413, 415],
  },
  {
    method: 'GET', path: '/api/v1/activity', auth: 'admin', status: 200,
    summary: 'The activity log, newest first',
    query: [
      q('visitorId', id, 'one visitor'), q('agentId', id, 'one agent'), q('type', { type: 'string', enum: [...ACTIVITY_TYPES] }, 'one kind'),
      q('since', { type: 'string', format: 'date-time' }, 'from'), q('until', { type: 'string', format: 'date-time' }, 'until'),
      q('limit', { type: 'integer', minimum: 1, maximum: 200, default: 50 }, 'page size'), q('cursor', str(200), 'from nextCursor'),
    ],
    response: page(ref('Activity')), errors: [400],
  },
  {
    method: 'POST', path: '/api/v1/activity/purge', auth: 'admin', status: 200,
    summary: 'Remove one user\'s activity entries outright',
    body: { type: 'object', additionalProperties: false, required: ['userId'], properties: { userId: str(256, { minLength: 1 }) } },
    response: { type: 'object', required: ['purged'], properties: { purged: { type: 'integer' } } }, errors: [400, 413, 415],
  },
  {
    method: 'POST', path: '/api/v1/account/rotate-secret', auth: 'admin', status: 200,
    summary: 'A new secret key, shown once; the old key and its agent tokens stop working',
    response: { type: 'object', required: ['accountId', 'secretKey'], properties: { accountId: { type: 'string' }, secretKey: { type: 'string' } } },
  },
];

/** The route described for this method and uWS pattern; registering an undescribed route throws. */
export function routeSpec(method: Method, path: string): RouteSpec {
  const spec = routes.find((r) => r.method === method && r.path === path);
  if (!spec) throw new Error(`${method} ${path} is not described in protocol/restApi.ts`);
  return spec;
}
