/**
 * The REST API is described once (protocol/restApi.ts): the OpenAPI document served from it lists
 * exactly the routes the relay registers, each of them answers on a real socket, and registering a
 * route nobody described fails.
 */
import t from 'tap';
import { OPENAPI_PATH } from '../../../protocol/endpoints.ts';
import { routes } from '../../../protocol/restApi.ts';
import { ApiRoutes } from '../../../relay/http/apiRoutes.ts';
import { openApiPath } from '../../../relay/http/openapi.ts';
import { uws } from '../../../relay/uwsLoader.ts';
import { startTestRelay, type TestRelay } from '../../helpers/relay.ts';

let r: TestRelay;
t.before(async () => {
  r = await startTestRelay();
});
t.teardown(() => r?.stop());

const base = () => `http://127.0.0.1:${r.port}`;

t.test('the served document is OpenAPI 3.1 and documents every registered route, and only those', async (t) => {
  const res = await fetch(base() + OPENAPI_PATH, { signal: AbortSignal.timeout(10_000) });
  t.equal(res.status, 200, 'served without credentials');
  t.match(res.headers.get('content-type'), /^application\/json/);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
  t.equal(doc.openapi, '3.1.0');
  const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
  const registered = r.relay.apiRoutes.map((s) => { const [m, p] = s.split(' '); return `${m} ${openApiPath(p)}`; }).sort();
  t.same(documented, registered, 'documented routes = registered routes');
  t.ok(registered.length >= 9, `${registered.length} routes`);
  for (const ref of JSON.stringify(doc).matchAll(/"#\/components\/schemas\/(\w+)"/g)) {
    t.ok(doc.components.schemas[ref[1]], `schema ${ref[1]} is defined`);
  }
});

t.test('every documented route answers on the wire (no 404/405), and refuses a missing credential', async (t) => {
  for (const route of routes) {
    const url = base() + route.path.replace(/:[A-Za-z]+/g, 'v_someone');
    const init: RequestInit = { method: route.method, signal: AbortSignal.timeout(10_000) };
    if (route.body) Object.assign(init, { headers: { 'content-type': 'application/json' }, body: '{}' });
    const res = await fetch(url, init);
    const expected = route.auth === 'none' ? route.status : 401;
    t.equal(res.status, expected, `${route.method} ${route.path} → ${expected}`);
    await res.arrayBuffer();
  }
});

t.test('a route nobody described cannot be registered', async (t) => {
  const app = uws.App();
  const table = new ApiRoutes(app, (h) => h);
  t.throws(() => table.get('/api/v1/undocumented', () => {}), /not described in protocol\/restApi\.ts/);
  t.throws(() => table.post('/api/v1/visitors', () => {}), /not described/, 'a described path with another method');
  t.doesNotThrow(() => table.get('/api/v1/visitors', () => {}));
  t.same(table.registered(), ['GET /api/v1/visitors']);
});
