/** Page content and secrets never reach a file under DATA_DIR or a log line. */
import fs from 'node:fs';
import crypto from 'node:crypto';
import t from 'tap';
import { connectAgent, connectVisitor, sleep } from '../../helpers/clients.ts';
import { filesUnder, startTestRelay } from '../../helpers/relay.ts';

t.test('a canary streamed in frames is in no file and no log line', async (t) => {
  const r = await startTestRelay(); // logs at debug level: the most verbose setting
  const canary = `CANARY-${crypto.randomBytes(12).toString('hex')}`;
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.acme.publicKey);
  const agent = await connectAgent(r.port, r.token(r.acme, 'alice'));
  agent.send({ t: 'join', visitorId: welcome.visitorId });
  await visitor.next('consent-request');
  visitor.send({ t: 'consent', agentId: 'alice', allow: true });
  await agent.next('joined');
  const page = Buffer.from(JSON.stringify({ type: 2, data: { text: `secret balance ${canary}` } }));
  for (let i = 0; i < 50; i++) visitor.sendFrame(Buffer.concat([Buffer.from([i === 0 ? 1 : 2]), page]));
  await agent.until(() => agent.frames.length === 50, 5000, 'frames');
  t.ok(agent.frames.every((f) => f.includes(canary)), 'the canary did travel through the relay');

  // Error paths must not echo content into logs either.
  const bad = (await connectVisitor(r.port, r.acme.publicKey)).sock;
  bad.sendFrame(Buffer.concat([Buffer.from([77]), page]));
  await bad.closed;
  const bad2 = (await connectVisitor(r.port, r.acme.publicKey)).sock;
  bad2.send(`{"t":"page","url":"${canary}`);
  await bad2.closed;
  const secretKey = r.acme.secretKey;
  const tokenRes = await fetch(`http://127.0.0.1:${r.port}/api/v1/agent-tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agentId: 'bob', name: 'Bob' }),
  });
  const { token } = (await tokenRes.json()) as { token: string };
  t.ok(token, 'minted a token through the REST API');
  await sleep(100);
  await r.stop();

  const files = filesUnder(r.dataDir);
  t.ok(files.some((f) => f.endsWith('.sqlite')), 'the store file exists and was checked');
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    t.notOk(bytes.includes(canary), `no canary in ${f.slice(r.dataDir.length)}`);
    t.notOk(bytes.includes(secretKey), `no plaintext secret key in ${f.slice(r.dataDir.length)}`);
  }
  const log = fs.readFileSync(r.logFile, 'utf8');
  t.ok(log.split('\n').filter(Boolean).length > 0, 'the relay did write log lines');
  t.notOk(log.includes(canary), 'no canary in any log line');
  t.notOk(log.includes(secretKey), 'no secret key in any log line');
  t.notOk(log.includes(token), 'no agent token in any log line');
  t.notOk(log.includes(welcome.visitorToken), 'no visitor token in any log line');
});
