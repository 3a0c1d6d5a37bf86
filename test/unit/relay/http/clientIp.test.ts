/** Which address a request is charged to (relay/http/clientIp.ts). */
import t from 'tap';
import { clientIp } from '../../../../relay/http/clientIp.ts';

const PROXY = '10.0.0.1';
const trust = [PROXY, '10.0.0.2'];

t.test('the socket peer, unless a trusted proxy forwarded the request', async (t) => {
  t.equal(clientIp('203.0.113.9', '198.51.100.7', trust), '203.0.113.9', 'an untrusted peer cannot choose its address with X-Forwarded-For');
  t.equal(clientIp('203.0.113.9', '198.51.100.7', []), '203.0.113.9', 'no trusted proxies: never read the header');
  t.equal(clientIp(PROXY, '', trust), PROXY, 'a trusted proxy without the header is the client');
  t.equal(clientIp(PROXY, '198.51.100.7', trust), '198.51.100.7', 'a trusted proxy: the forwarded address');
});

t.test('the right-most untrusted hop: a client cannot spoof by prepending', async (t) => {
  t.equal(clientIp(PROXY, '1.2.3.4, 198.51.100.7', trust), '198.51.100.7', 'what the client wrote itself (left) is ignored');
  t.equal(clientIp(PROXY, '1.2.3.4, 198.51.100.7, 10.0.0.2', trust), '198.51.100.7', 'trusted hops on the right are skipped');
  t.equal(clientIp(PROXY, '10.0.0.2 ,10.0.0.1', trust), PROXY, 'only trusted hops: the peer');
  t.equal(clientIp(PROXY, ' , ,198.51.100.7,, ', trust), '198.51.100.7', 'empty entries and spaces are ignored');
  t.equal(clientIp(PROXY, ',,,', trust), PROXY, 'nothing but commas: the peer');
});

t.test('a forwarded entry is bounded in length', async (t) => {
  const long = 'x'.repeat(10_000);
  t.equal(clientIp(PROXY, long, trust).length, 64, 'at most 64 characters, whatever the header holds');
  t.equal(clientIp(PROXY, `${long},2001:db8::1`, trust), '2001:db8::1', 'the right-most entry is taken whole when short');
});
