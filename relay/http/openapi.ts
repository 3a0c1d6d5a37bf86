/**
 * `GET /api/v1/openapi.json`: an OpenAPI 3.1 document generated from protocol/restApi.ts, the one
 * description of the REST API (the routes registered are checked against it in test/api.openapi).
 */
import { HttpError } from '../../protocol/errors.ts';
import { OPENAPI_PATH } from '../../protocol/endpoints.ts';
import { routes, schemas, type Json, type RouteSpec } from '../../protocol/restApi.ts';
import type { ApiRoutes } from './apiRoutes.ts';
import { pending, sendJson } from './respond.ts';

const COMMON_ERRORS = [401, 429, 500];

/** `/api/v1/visitors/:visitorId` → `/api/v1/visitors/{visitorId}`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z]+)/g, '{$1}');
}

function errorCodes(status: number): string {
  return Object.values(HttpError).filter((e) => e.status === status).map((e) => e.code).join(', ');
}

function operation(r: RouteSpec): Json {
  const params: Json[] = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  for (const q of r.query ?? []) params.push({ name: q.name, in: 'query', required: false, schema: q.schema, description: q.description });
  const responses: Json = { [String(r.status)]: { description: 'OK', content: { 'application/json': { schema: r.response } } } };
  const errors = r.auth === 'none' ? [429, 500] : COMMON_ERRORS;
  for (const status of [...new Set([...(r.errors ?? []), ...errors])].sort()) {
    responses[String(status)] = { description: errorCodes(status), content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  const op: Json = { summary: r.summary, operationId: `${r.method.toLowerCase()} ${r.path}`, responses };
  if (params.length) op.parameters = params;
  if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: r.body } } };
  if (r.auth === 'admin') op.security = [{ secretKey: [] }];
  if (r.auth === 'adminOrAgent') op.security = [{ secretKey: [] }, { agentToken: [] }];
  if (r.auth === 'none') op.security = [];
  return op;
}

export function openApiDocument(serverUrl: string): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) (paths[openApiPath(r.path)] ??= {})[r.method.toLowerCase()] = operation(r);
  return {
    openapi: '3.1.0',
    info: { title: 'Cobrowse relay REST API', version: '1' },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        secretKey: { type: 'http', scheme: 'bearer', description: 'the account secret key (sk_…)' },
        agentToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'an agent token of the account' },
      },
    },
  };
}

export function registerOpenApi(routesTable: ApiRoutes, publicUrl: string): void {
  const body = openApiDocument(publicUrl);
  routesTable.get(OPENAPI_PATH, (res) => sendJson(pending(res), 200, body));
}
