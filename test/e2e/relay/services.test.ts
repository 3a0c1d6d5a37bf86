/**
 * The relay's service layer on a real relay (real sockets, real SQLite): the visitor directory
 * answers presence, the erasure service is what REST and forget() call, and the metadata service
 * gets the hook that ends live visitors at construction (the router no longer overwrites it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createLogger } from '../../../relay/log.ts';
import { MetadataService } from '../../../relay/metadata/service.ts';
import { Metrics } from '../../../relay/metrics.ts';
import { SqliteStore } from '../../../relay/store/sqlite.ts';
import { connectVisitor, type TestSocket } from '../../helpers/clients.ts';
import { OTHER_ORIGIN, startTestRelay, type TestRelay } from '../../helpers/relay.ts';

let r: TestRelay;
t.before(async () => {
  r = await startTestRelay();
});
t.teardown(() => r?.stop());

/** Sends identify, then waits for the answer to a later request: the relay has handled identify. */
async function identified(sock: TestSocket, fields: object) {
  sock.send({ t: 'identify', ...fields });
  sock.send({ t: 'code-request' });
  await sock.next('code');
}

t.test('visitor directory: who is online, matching ids, user ids or emails, per account', async (t) => {
  const { directory } = r.relay.ctx;
  const mia = await connectVisitor(r.port, r.acme.publicKey);
  await identified(mia.sock, { userId: 'u-mia', email: 'Mia@Example.com' });
  const foreign = await connectVisitor(r.port, r.other.publicKey, { origin: OTHER_ORIGIN });
  await identified(foreign.sock, { userId: 'u-mia' });
  const id = mia.welcome.visitorId;
  t.ok(directory.online(r.acme.accountId).includes(id), 'online');
  t.notOk(directory.online(r.acme.accountId).includes(foreign.welcome.visitorId), 'another account\'s visitor is not listed');
  t.same(directory.online(r.acme.accountId, { emails: ['mia@example.com'] }), [id], 'by email, case-insensitively');
  t.same(directory.online(r.acme.accountId, { userIds: ['u-mia'] }), [id], 'by user id, this account only');
  t.same(directory.online(r.acme.accountId, { visitorIds: [id, 'v_nobody'] }), [id], 'by visitor id');
  t.same(directory.online(r.acme.accountId, { userIds: ['u-other'] }), [], 'no match');
  t.ok(directory.isOnline(r.acme.accountId, id));
  t.notOk(directory.isOnline(r.other.accountId, id), 'not online under another account');
  mia.sock.close();
  foreign.sock.close();
  await Promise.all([mia.sock.closed, foreign.sock.closed]);
});

t.test('erasure service: exists() sees live, pending and stored visitors of the account only; erase() closes live tabs', async (t) => {
  const { erasure, metadata } = r.relay.ctx;
  const v = await connectVisitor(r.port, r.acme.publicKey);
  await identified(v.sock, { email: 'erase-me@example.com' });
  const id = v.welcome.visitorId;
  t.ok(await erasure.exists(r.acme.accountId, id), 'a live visitor exists (whether or not written yet)');
  t.notOk(await erasure.exists(r.other.accountId, id), 'not for another account');
  t.notOk(await erasure.exists(r.acme.accountId, 'v_neverseen'), 'an unknown id does not');
  const done = await erasure.erase(r.acme.accountId, { emails: ['ERASE-ME@example.com'] });
  t.equal(done.deleted, 1, 'the live visitor, matched by email, is deleted');
  t.same((await v.sock.closed).code, 4004, 'its tab is closed with visitor_deleted');
  t.notOk(await erasure.exists(r.acme.accountId, id), 'nothing left to erase');
  t.equal(await metadata.getVisitor(r.acme.accountId, id), null, 'no record');
});

t.test('metadata service: the end-visitors hook is given at construction and called for live ids', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-svc-'));
  const store = new SqliteStore(dir);
  t.teardown(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const ended: Array<[string, string[]]> = [];
  const svc = new MetadataService({
    store, metrics: new Metrics(), log: createLogger('silent'), secret: Buffer.alloc(32, 3), retentionDays: 30, maxPendingVisitors: 1000,
    endVisitors: (accountId, ids) => ended.push([accountId, ids]),
  });
  svc.touch({ accountId: 'acc_x', visitorId: 'v1', ip: '192.0.2.1' });
  const done = await svc.erase('acc_x', { visitorIds: ['v1'] }, ['v1']);
  t.same(done.visitorIds, ['v1']);
  t.same(ended, [['acc_x', ['v1']]], 'the live visitor was ended through the hook');
  t.notOk('endVisitors' in svc, 'no public hook left for someone else to overwrite');
});
