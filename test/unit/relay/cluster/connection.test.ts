/** NATS_URL credentials never reach an error message (and from there a log line). */
import t from 'tap';
import { withoutCredentials } from '../../../../relay/cluster/connection.ts';

t.test('user:password and token forms are masked, in every URL of a list; plain URLs are left alone', async (t) => {
  t.equal(withoutCredentials('nats://alice:s3cr3tPASS@nats1:4222'), 'nats://***@nats1:4222');
  t.equal(withoutCredentials('nats://TOKENabc123@127.0.0.1:4222'), 'nats://***@127.0.0.1:4222');
  t.equal(
    withoutCredentials('nats://u:p1@a:4222, tls://u:p2@b:4222,nats://c:4222'),
    'nats://***@a:4222, tls://***@b:4222,nats://c:4222',
  );
  t.equal(withoutCredentials('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
  t.notMatch(withoutCredentials('nats://alice:s3cr3tPASS@nats1:4222'), /s3cr3tPASS|alice/);
});
