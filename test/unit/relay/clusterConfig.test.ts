/** Cluster mode's configuration: NATS_URL turns it on, RELAY_SECRET is then required, NODE_ID is checked. */
import t from 'tap';
import { ConfigError, loadConfig } from '../../../relay/config.ts';

const SECRET = 'x'.repeat(40);

t.test('unset NATS_URL: no cluster, nothing required', async (t) => {
  const c = loadConfig({});
  t.equal(c.natsUrl, undefined);
  t.match(c.nodeId, /^[A-Za-z0-9_-]{1,64}$/, 'a default node id that is a valid subject token');
  t.not(loadConfig({}).nodeId, c.nodeId, 'unique per load (random suffix)');
});

t.test('NATS_URL without RELAY_SECRET is refused with a clear message', async (t) => {
  t.throws(() => loadConfig({ NATS_URL: 'nats://127.0.0.1:4222' }), new ConfigError('RELAY_SECRET must be set (the same on every relay) when NATS_URL turns cluster mode on'));
  const c = loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', RELAY_SECRET: SECRET, NODE_ID: 'relay-1' });
  t.equal(c.natsUrl, 'nats://127.0.0.1:4222');
  t.equal(c.nodeId, 'relay-1');
});

t.test('NODE_ID must be a subject token; limits are bounded', async (t) => {
  for (const bad of ['a.b', 'a b', '*', '>', 'x'.repeat(65)]) {
    t.throws(() => loadConfig({ NODE_ID: bad }), ConfigError, JSON.stringify(bad));
  }
  t.throws(() => loadConfig({ CLUSTER_MAX_PENDING_BYTES: '10' }), ConfigError, 'pending cap at least 1 MiB');
  t.equal(loadConfig({}).clusterMaxPendingBytes, 64 * 1024 * 1024);
  t.throws(() => loadConfig({ CLUSTER_MAX_REMOTE_AGENTS: '0' }), ConfigError);
});

t.test('REUSE_PORT: only in cluster mode, only a clear yes or no', async (t) => {
  t.equal(loadConfig({}).reusePort, false, 'off by default (the port is exclusive)');
  t.throws(() => loadConfig({ REUSE_PORT: '1' }), new ConfigError('REUSE_PORT needs cluster mode (NATS_URL): relays sharing a port without it would each see only part of the visitors and agents'));
  const cluster = { NATS_URL: 'nats://127.0.0.1:4222', RELAY_SECRET: SECRET };
  t.equal(loadConfig({ ...cluster, REUSE_PORT: 'true' }).reusePort, true);
  t.equal(loadConfig({ ...cluster, REUSE_PORT: '0' }).reusePort, false);
  t.throws(() => loadConfig({ ...cluster, REUSE_PORT: 'yes' }), ConfigError, 'anything else is refused');
});
