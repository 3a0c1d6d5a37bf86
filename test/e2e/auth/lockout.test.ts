/**
 * The failed-authentication budget holds under concurrency: scrypt runs per address never exceed it,
 * scrypt runs in flight are capped per address and in total, and agent socket upgrades share it.
 * Cheap credentials (agent tokens) are checked first and only failures are charged: a valid token
 * is served from a locked-out address (an attacker behind a team's NAT cannot lock the team out).
 * Real relay, real HTTP and WebSocket upgrades on loopback, fired together with Promise.all; client
 * addresses simulated with X-Forwarded-For from the trusted loopback proxy. Figures are read from
 * cobrowse_scrypt_runs_total in /metrics.
 */
import t from 'tap';
import { agentUpgrade, restCall, tally } from '../../helpers/authProbe.ts';
import { startTestRelay, type TestRelay } from '../../helpers/relay.ts';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** Requests are not the limit under test. */
const BASE = { TRUST_PROXY: '127.0.0.1', API_REQUESTS_PER_SEC: '100000' };

async function scryptRuns(r: TestRelay): Promise<number> {
  return Number(/^cobrowse_scrypt_runs_total (\d+)$/m.exec(await r.metricsText())?.[1]);
}

/** A well-formed secret key of the right account with a wrong random part: each costs a scrypt run. */
const wrongKey = (r: TestRelay, i: number) => `${r.acme.secretKey.split('.')[0]}.wrong${String(i).padStart(4, '0')}xxxxxxxxxxxxxxxxxxxxxx`;

/**
 * Bad keys one after another (so no in-flight cap is met) until the address is locked out; checks the
 * number of 401s is the budget, plus what it refilled while the loop ran (one per 60/perMin s: on a
 * loaded machine twenty sequential scrypt runs can outlast a refill).
 */
async function lockOut(t: Test, r: TestRelay, from: string, budgetPerMin: number, what: string): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < 100; i++) {
    const o = await restCall(r.port, '/api/v1/visitors', from, `Bearer ${wrongKey(r, 5000 + i)}`);
    if (o.status === 429) {
      const refills = Math.floor(((performance.now() - started) / 60_000) * budgetPerMin);
      t.ok(i >= budgetPerMin && i <= budgetPerMin + refills, `${what}: ${i} failures (budget ${budgetPerMin} + ${refills} refilled), then locked out`);
      return;
    }
    t.equal(o.status, 401);
  }
  throw new Error('never locked out');
}

t.test('150 concurrent bad keys from one address: scrypt runs exactly the budget, the rest 429 before any check', async (t) => {
  // In-flight caps out of the way, so the budget alone is measured.
  const r = await startTestRelay({ ...BASE, SCRYPT_MAX_IN_FLIGHT: '1000', SCRYPT_MAX_IN_FLIGHT_PER_IP: '1000' });
  t.teardown(r.stop);
  const out = await Promise.all(Array.from({ length: 150 }, (_, i) => restCall(r.port, '/api/v1/visitors', '198.51.100.1', `Bearer ${wrongKey(r, i)}`)));
  const runs = await scryptRuns(r);
  t.same(tally(out), { 401: 20, 429: 130 }, `20 verified and refused (401), 130 refused unverified (429): ${JSON.stringify(tally(out))}`);
  t.equal(runs, 20, `scrypt ran exactly the budget (20), not 150: ${runs}`);
  const limited = out.filter((o) => o.status === 429);
  t.ok(limited.every((o) => o.code === 'rate_limited' && Number(o.retryAfter) >= 1), '429s are rate_limited JSON with Retry-After');
  t.ok(out.every((o) => o.nosniff === 'nosniff'), 'every answer has nosniff');

  // Minting shares the budget: no more scrypt runs from this address.
  const mint = await restCall(r.port, '/api/v1/agent-tokens', '198.51.100.1', `Bearer ${wrongKey(r, 999)}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"agentId":"a","name":"A"}',
  });
  t.equal(mint.status, 429, 'POST /api/v1/agent-tokens is locked out too');
  t.equal(await scryptRuns(r), 20, 'still 20 runs');
  t.equal((await restCall(r.port, '/api/v1/visitors', '203.0.113.5', `Bearer ${r.acme.secretKey}`)).status, 200, 'another address is served');
});

t.test('100-request bursts for 6 s: scrypt runs stay within burst + rate x elapsed', async (t) => {
  // 30 a minute: a burst of 30, then one every 2 s. Default in-flight caps.
  const r = await startTestRelay({ ...BASE, API_AUTH_FAILURES_PER_MIN: '30' });
  t.teardown(r.stop);
  const started = performance.now();
  let sent = 0;
  const statuses: Record<number, number> = {};
  // Bursts back to back (each once the previous one is answered): harsher than one a second.
  while (performance.now() - started < 6000) {
    const out = await Promise.all(Array.from({ length: 100 }, () => restCall(r.port, '/api/v1/visitors', '198.51.100.2', `Bearer ${wrongKey(r, sent++)}`)));
    for (const [s, n] of Object.entries(tally(out))) statuses[Number(s)] = (statuses[Number(s)] ?? 0) + n;
  }
  const elapsedSec = (performance.now() - started) / 1000;
  const runs = await scryptRuns(r);
  const bound = Math.floor(30 + elapsedSec * 0.5);
  t.ok(runs <= bound, `${sent} requests in ${elapsedSec.toFixed(1)} s: ${runs} scrypt runs <= ${bound}`);
  t.ok(runs > 30, `the budget refills over time (${runs} > 30)`);
  t.equal(statuses[401], runs, 'one 401 per scrypt run');
  t.equal(statuses[429], sent - runs, 'everything else 429');
});

t.test('scrypt in flight: at most SCRYPT_MAX_IN_FLIGHT_PER_IP per address and SCRYPT_MAX_IN_FLIGHT in all', async (t) => {
  const r = await startTestRelay({ ...BASE, SCRYPT_MAX_IN_FLIGHT: '3', SCRYPT_MAX_IN_FLIGHT_PER_IP: '2' });
  t.teardown(r.stop);
  const gate = r.relay.ctx.apiLimits.auth;
  // One address, 150 at once.
  const one = await Promise.all(Array.from({ length: 150 }, (_, i) => restCall(r.port, '/api/v1/visitors', '198.51.100.3', `Bearer ${wrongKey(r, i)}`)));
  t.equal(gate.peakScryptInFlightPerIp, 2, `at most 2 in flight for the address (peak ${gate.peakScryptInFlightPerIp})`);
  t.equal(tally(one)[401], await scryptRuns(r), 'one 401 per run');
  t.ok((await scryptRuns(r)) <= 20, 'within the budget');
  // Six addresses, 10 each at once: the process-wide cap.
  const many = await Promise.all(Array.from({ length: 60 }, (_, i) => restCall(r.port, '/api/v1/visitors', `192.0.2.${10 + (i % 6)}`, `Bearer ${wrongKey(r, 1000 + i)}`)));
  t.ok(gate.peakScryptInFlight <= 3, `at most 3 in flight in all (peak ${gate.peakScryptInFlight})`);
  const overloaded = many.filter((o) => o.status === 503);
  t.ok(overloaded.length > 0, `past the process-wide cap: 503 (${overloaded.length})`);
  t.ok(overloaded.every((o) => o.code === 'overloaded' && o.retryAfter === '1'), '503 overloaded with Retry-After: 1');
  t.equal(gate.scryptInFlight, 0, 'every slot was given back');
});

t.test('after a lockout: a key verified in the last 30 s is served without scrypt; others wait', async (t) => {
  const r = await startTestRelay({ ...BASE, API_AUTH_FAILURES_PER_MIN: '3' });
  t.teardown(r.stop);
  const team = '198.51.100.4'; // a support team and an attacker behind one NAT
  t.equal((await restCall(r.port, '/api/v1/visitors', team, `Bearer ${r.acme.secretKey}`)).status, 200, 'the admin works');
  await lockOut(t, r, team, 3, 'the attacker');
  const runs = await scryptRuns(r);
  t.equal((await restCall(r.port, '/api/v1/visitors', team, `Bearer ${r.acme.secretKey}`)).status, 200, 'the admin, verified recently, is still served');
  t.equal(await scryptRuns(r), runs, 'without a scrypt run');
  t.equal((await restCall(r.port, '/api/v1/visitors', team, `Bearer ${r.other.secretKey}`)).status, 429, 'a key not verified recently waits');
  t.equal((await restCall(r.port, '/api/v1/visitors', team, `Bearer ${r.token(r.acme, 'alice')}`)).status, 200, 'a valid agent token is served (checked first, cheap; only failures are charged)');
  const forged = `${r.token(r.acme, 'alice').slice(0, -6)}AAAAAA`;
  t.equal((await restCall(r.port, '/api/v1/visitors', team, `Bearer ${forged}`)).status, 429, 'a bad agent token is refused 429 (after the cheap check)');
  t.equal(await scryptRuns(r), runs, 'no scrypt run for agent tokens');
});

t.test('concurrent requests with one uncached key share one scrypt run', async (t) => {
  const r = await startTestRelay({ ...BASE, SCRYPT_MAX_IN_FLIGHT_PER_IP: '1' });
  t.teardown(r.stop);
  const out = await Promise.all(Array.from({ length: 12 }, () => restCall(r.port, '/api/v1/visitors', '198.51.100.6', `Bearer ${r.acme.secretKey}`)));
  t.same(tally(out), { 200: 12 }, 'all served, though only one may verify at a time');
  t.equal(await scryptRuns(r), 1, 'one scrypt run');
});

t.test('agent socket upgrades share the budget: concurrent bad tokens, then 429 for bad ones; valid ones always open', async (t) => {
  const r = await startTestRelay({ ...BASE, API_AUTH_FAILURES_PER_MIN: '20' });
  t.teardown(r.stop);
  const good = r.token(r.acme, 'alice');
  const forged = `${good.slice(0, -6)}AAAAAA`; // a bad signature
  // Good tokens refund their unit: 30 upgrades from one address with a budget of 20 all open.
  const goods = await Promise.all(Array.from({ length: 30 }, () => agentUpgrade(r.port, good, '198.51.100.7')));
  t.same(tally(goods), { 101: 30 }, 'valid tokens do not spend the budget');

  const out = await Promise.all(Array.from({ length: 150 }, () => agentUpgrade(r.port, forged, '198.51.100.8')));
  t.same(tally(out), { 401: 20, 429: 130 }, `20 failures charged (401), 130 past the budget (429): ${JSON.stringify(tally(out))}`);
  t.ok(out.filter((o) => o.status === 429).every((o) => o.code === 'rate_limited' && Number(o.retryAfter) >= 1), '429 rate_limited with Retry-After');
  t.equal((await agentUpgrade(r.port, good, '198.51.100.8')).status, 101, 'a valid token from the locked-out address still opens (never refused once it verifies)');
  t.equal((await restCall(r.port, '/api/v1/visitors', '198.51.100.8', `Bearer ${good}`)).status, 200, 'and a valid agent REST call from there is served');
  t.equal((await restCall(r.port, '/api/v1/visitors', '198.51.100.8', `Bearer ${forged}`)).status, 429, 'a bad agent token over REST from there: 429');
  t.equal((await restCall(r.port, '/api/v1/visitors', '198.51.100.8', `Bearer ${wrongKey(r, 1)}`)).status, 429, 'and REST from there: one budget');
  t.equal(await scryptRuns(r), 0, 'no scrypt run for any of it');

  // REST failures spend the budget that upgrades then find empty.
  await lockOut(t, r, '198.51.100.9', 20, 'REST');
  t.equal((await agentUpgrade(r.port, forged, '198.51.100.9')).status, 429, 'after REST failures a bad upgrade from that address is refused 429');
  t.equal((await agentUpgrade(r.port, good, '198.51.100.9')).status, 101, 'a valid one still opens');
  t.equal((await agentUpgrade(r.port, good, '203.0.113.10')).status, 101, 'another address opens');
});
