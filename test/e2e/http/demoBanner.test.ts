/**
 * `npm start` (relay/main.ts in its own process): the banner says the demo is for trying it out,
 * the printed agent token is short-lived (DEMO_TOKEN_TTL_SEC, 1 h) and dies with the demo secret key.
 */
import jwt from 'jsonwebtoken';
import t from 'tap';
import { freePort } from '../../helpers/relay.ts';
import { startNpmRelay } from '../../helpers/npmStart.ts';

t.test('the demo banner and its agent token', async (t) => {
  const relay = await startNpmRelay(await freePort());
  t.teardown(relay.stop);
  t.match(relay.banner, /DEMO ONLY, for trying it out/, 'the banner says the demo is only for trying it out');
  t.match(relay.banner, /SEED_DEMO=0/, 'and how to turn it off');
  const token = new URL(relay.agentLink).hash.replace(/^#token=/, '');
  const claims = jwt.decode(token) as jwt.JwtPayload;
  t.equal(claims.exp! - claims.iat!, 3600, 'the printed agent token lives one hour, not eight');
  t.match(relay.banner, /valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC/, 'and the banner says until when');

  const visitors = (tok: string) => fetch(`${relay.base}/api/v1/visitors`, { headers: { authorization: `Bearer ${tok}` } });
  t.equal((await visitors(token)).status, 200, 'the printed token works');
  const rotated = await fetch(`${relay.base}/api/v1/account/rotate-secret`, { method: 'POST', headers: { authorization: `Bearer ${relay.secretKey}` } });
  t.equal(rotated.status, 200, 'the demo secret key rotated');
  t.equal((await visitors(token)).status, 401, 'the printed token is revoked with it');
});
