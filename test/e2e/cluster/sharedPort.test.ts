/**
 * The relay's port is its own: uSockets would let a second process listen on it too (SO_REUSEPORT is
 * its default on Linux), and a relay started there by mistake would silently take part of the
 * visitors and agents, apart from the first. It now fails to start instead, unless REUSE_PORT asks
 * for the sharing, which cluster mode makes safe (several relay processes on one machine).
 */
import t from 'tap';
import { startCluster, until } from '../../helpers/cluster.ts';

const ready = async (base: string) => (await fetch(`${base}/readyz`)).status;

t.test('a second relay on a taken port fails to start; the first goes on', async (t) => {
  const c = await startCluster(['a']);
  t.teardown(() => c.stop());
  const a = c.relays[0];
  for (const [name, env] of [['b', {}], ['alone', { NATS_URL: '' }]] as const) {
    // startRelay's readiness check is answered by the first relay: the second's exit is what tells.
    const second = await c.startRelay(name, a.port, env);
    t.equal(await second.exited, 1, `${name === 'alone' ? 'a single relay' : 'a cluster relay'} on the same port exits (1)`);
    t.match(second.output(), /relay failed to start: cannot listen on 127\.0\.0\.1:\d+ \(is another relay or program using it\?\)/, 'and says why');
  }
  t.equal(await ready(a.base), 200, 'the first relay still answers');
  t.equal(a.child.exitCode, null, 'and is still running');
});

t.test('REUSE_PORT: two cluster relays share one port', async (t) => {
  const c = await startCluster(['a'], { REUSE_PORT: '1' });
  t.teardown(() => c.stop());
  const a = c.relays[0];
  const b = await c.startRelay('b', a.port);
  await until(() => /"relay listening"/.test(b.output()) || b.child.exitCode !== null, 30_000, 'the second relay listening or gone', 50);
  t.equal(b.child.exitCode, null, 'the second relay started on the same port');
  t.match(b.output(), new RegExp(`"port":${a.port}`), 'and listens on it');
  await a.kill('SIGTERM');
  t.equal(await ready(a.base), 200, 'with the first stopped, the port still answers (the second)');
  t.equal(b.child.exitCode, null, 'the second is running');
});
