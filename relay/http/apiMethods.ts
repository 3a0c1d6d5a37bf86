/**
 * The methods each REST route answers, so a wrong method gets `405` with `Allow` instead of a
 * misleading `404`. Keep in step with the `app.get/post/del` registrations in relay/http/.
 */
const ROUTES: Array<[RegExp, string[]]> = [
  [/^\/api\/v1\/agent-tokens$/, ['POST']],
  [/^\/api\/v1\/visitors$/, ['GET']],
  [/^\/api\/v1\/visitors\/delete$/, ['POST', 'GET', 'DELETE']],
  [/^\/api\/v1\/visitors\/[^/]+$/, ['GET', 'DELETE']],
  [/^\/api\/v1\/activity$/, ['GET']],
  [/^\/api\/v1\/activity\/purge$/, ['POST']],
  [/^\/api\/v1\/account\/rotate-secret$/, ['POST']],
];

/** The methods allowed on this path, or none if it is not an API route. */
export function allowedMethods(path: string): string[] {
  for (const [re, methods] of ROUTES) if (re.test(path)) return methods;
  return [];
}
