/**
 * Each new visitor id becomes a record in the store, so new visitors per address are budgeted
 * (NEW_VISITORS_PER_MIN_PER_IP); reconnects of a known visitor are not.
 * Addresses are simulated with X-Forwarded-For from a trusted proxy (TRUST_PROXY=127.0.0.1).
 */
import t from 'tap';
import { connectVisitor, refused } from '../../helpers/clients.ts';
import { startTestRelay } from '../../helpers/relay.ts';

t.test('new visitors per address are budgeted: 429 rate_limited; reconnects and other addresses are not affected', async (t) => {
  const r = await startTestRelay({ TRUST_PROXY: '127.0.0.1', NEW_VISITORS_PER_MIN_PER_IP: '3' });
  t.teardown(() => r.stop());
  const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });
  const first = [];
  for (let i = 0; i < 3; i++) first.push(await connectVisitor(r.port, r.acme.publicKey, from('203.0.113.7')));
  const no = await refused(connectVisitor(r.port, r.acme.publicKey, from('203.0.113.7')));
  t.equal(no.status, 429, 'the fourth new visitor from one address is refused');
  t.same(no.body, { error: { code: 'rate_limited', message: 'too many new visitors from this address' } }, 'with the error body');
  const { welcome } = first[0];
  const again = await connectVisitor(r.port, r.acme.publicKey, { ...from('203.0.113.7'), query: { vid: welcome.visitorId, vt: welcome.visitorToken } });
  t.equal(again.welcome.visitorId, welcome.visitorId, 'a known visitor reconnects from that address');
  t.ok(await connectVisitor(r.port, r.acme.publicKey, from('203.0.113.8')), 'another address is not affected');
  t.equal(r.relay.ctx.metrics.counters.rate_limited_total, 1, 'counted');
  await r.relay.ctx.metadata.writer.flush(Date.now(), true);
  const { items } = await r.relay.ctx.store.searchVisitors(r.acme.accountId, { limit: 100 });
  t.equal(items.length, 4, 'only the admitted visitors have a record');
});

t.test('connections refused by MAX_CONNECTIONS_PER_IP do not spend the new-visitor budget', async (t) => {
  const r = await startTestRelay({ TRUST_PROXY: '127.0.0.1', NEW_VISITORS_PER_MIN_PER_IP: '3', MAX_CONNECTIONS_PER_IP: '2' });
  t.teardown(() => r.stop());
  const from = { headers: { 'x-forwarded-for': '203.0.113.9' } };
  const open = [await connectVisitor(r.port, r.acme.publicKey, from), await connectVisitor(r.port, r.acme.publicKey, from)];
  const codes = [];
  for (let i = 0; i < 5; i++) codes.push((await refused(connectVisitor(r.port, r.acme.publicKey, from))).body?.error?.code);
  t.same(codes, Array(5).fill('too_many_connections'), 'five over the connection cap: each refused for the cap, none for the budget');
  open[0].sock.ws.close();
  await open[0].sock.closed;
  const third = await connectVisitor(r.port, r.acme.publicKey, from);
  t.ok(third.welcome.visitorId, 'once a slot is free, a new visitor is admitted: the refusals left the budget (1 of 3) untouched');
  t.same(await refused(connectVisitor(r.port, r.acme.publicKey, from)).then((x) => x.body?.error?.code), 'rate_limited', 'and that was the last of the budget (3 of 3)');
});
