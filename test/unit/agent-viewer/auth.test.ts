/**
 * The agent page's token handling that needs no browser storage (agent-viewer/auth.ts): reading the
 * claims for display, and refusing what is not a usable token before anything is stored. Storing and
 * the `#token=` fragment are proven in Chromium (test/e2e/browser-viewer/demoPage.test.ts).
 */
import t from 'tap';
import { setTokenFromInput, tokenInfo } from '../../../agent-viewer/auth.ts';

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwtOf = (claims: unknown) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.sig`;

t.test('tokenInfo: only string/number claims of the right type, never a throw', async (t) => {
  t.same(tokenInfo(jwtOf({ sub: 'alice', name: 'Alice Ø', exp: 1_900_000_000, iss: 'acc_1' })), { sub: 'alice', name: 'Alice Ø', exp: 1_900_000_000, iss: 'acc_1' }, 'UTF-8 name decoded');
  t.same(tokenInfo(jwtOf({ sub: 5, name: ['x'], exp: '1900000000', iss: null })), { sub: undefined, name: undefined, exp: undefined, iss: undefined }, 'wrong types dropped');
  t.same(tokenInfo('not-a-token'), {}, 'one part');
  t.same(tokenInfo('a.%%%.c'), {}, 'a payload that is not base64');
  t.same(tokenInfo(`a.${Buffer.from('[1,').toString('base64url')}.c`), {}, 'a payload that is not JSON');
  // base64url without padding, with - and _ in it
  const claims = { sub: '>>>???', name: '~~~' };
  t.match(jwtOf(claims), /[-_]/, 'the fixture really has base64url characters');
  t.same(tokenInfo(jwtOf(claims)), { sub: '>>>???', name: '~~~', exp: undefined, iss: undefined }, 'base64url and missing padding handled');
});

t.test('setTokenFromInput: what is refused, with a message, before anything is stored', async (t) => {
  t.match(setTokenFromInput('hello'), /does not look like an agent token/);
  t.match(setTokenFromInput('a.b'), /does not look like an agent token/, 'two parts');
  t.match(setTokenFromInput('https://relay.example/agent/#token=not+a+jwt'), /does not look like an agent token/, 'a link whose token is garbage');
  const expired = jwtOf({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 60 });
  t.match(setTokenFromInput(expired), /expired/, 'an expired token');
  t.match(setTokenFromInput(`  Bearer ${expired}  `), /expired/, 'a pasted "Bearer …" header is unwrapped (then refused as expired)');
  t.match(setTokenFromInput(`https://relay.example/agent/#token=${expired}`), /expired/, 'a pasted sign-in link is unwrapped');
});
