/**
 * A watched session during a connect storm (issue 15): while hundreds of visitors connect at once and
 * most are shed, a visitor already being watched keeps streaming, and its agent receives every frame,
 * in order, with none lost.
 */
import t from 'tap';
import { FrameKind } from '../../../protocol/index.ts';
import { connectAgent, connectVisitor } from '../../helpers/clients.ts';
import { startTestRelay } from '../../helpers/relay.ts';
import { stormVisitor } from '../../helpers/stormClients.ts';

const FRAMES = 400;
const STORM = 500;

t.test('a watched session streams in order through a connect storm', async (t) => {
  const r = await startTestRelay({ ADMISSIONS_PER_SEC: '50', MAX_PENDING_ADMISSIONS: '10', MAX_CONNECTIONS_PER_IP: '2000', NEW_VISITORS_PER_MIN_PER_IP: '100000', VISITOR_MSGS_PER_SEC: '10000' });
  t.teardown(() => r.stop());
  const { sock: visitor, welcome } = await connectVisitor(r.port, r.open.publicKey);
  const agent = await connectAgent(r.port, r.token(r.open, 'agent-1'));
  agent.send({ t: 'join', visitorId: welcome.visitorId });
  await agent.next('joined');

  // The stream: one frame every 2 ms, each carrying its sequence number.
  let sent = 0;
  let firstSentAt = 0;
  let lastSentAt = 0;
  const streaming = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (let k = 0; k < 2 && sent < FRAMES; k++) {
        const f = Buffer.alloc(64);
        f[0] = FrameKind.Incremental;
        f.writeUInt32LE(sent, 1);
        visitor.sendFrame(f);
        if (sent === 0) firstSentAt = Date.now();
        sent++;
      }
      if (sent >= FRAMES) {
        lastSentAt = Date.now();
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  // The storm starts once the stream is under way.
  await agent.until(() => agent.frames.length >= 20, 10_000, 'the stream to start');
  const stormStart = Date.now();
  const outcomes = await Promise.all(Array.from({ length: STORM }, () => stormVisitor(r.port, r.open.publicKey)));
  const stormEnd = Date.now();
  await streaming;
  await agent.until(() => agent.frames.length >= FRAMES, 20_000, `all ${FRAMES} frames`);

  const shed = outcomes.filter((o) => o.kind === 'shed').length;
  t.ok(shed > 0, `the storm was shed in part (${shed} of ${STORM})`);
  t.ok(firstSentAt < stormStart && lastSentAt > stormStart, 'the stream overlapped the storm');
  t.ok(sent > 20 && stormEnd > firstSentAt, 'frames were sent during the storm');
  const seqs = agent.frames.map((f) => f.readUInt32LE(1));
  t.equal(seqs.length, FRAMES, 'every frame arrived, none twice');
  t.same(seqs, Array.from({ length: FRAMES }, (_, i) => i), 'in order, without gaps');
  t.notOk(visitor.closeInfo, 'the watched visitor was never closed');
  t.notOk(agent.closeInfo, 'the agent was never closed');
  for (const o of outcomes) if (o.kind === 'welcome') o.sock.close();
});
