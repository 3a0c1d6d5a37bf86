/** The activity budget (per address, per account, backlog) and the client log limiter, on their own. */
import { Writable } from 'node:stream';
import t from 'tap';
import { ActivityBudget } from '../../../../relay/limits/activityBudget.ts';
import { ClientLog } from '../../../../relay/limits/clientLog.ts';
import { createLogger } from '../../../../relay/log.ts';
import { Metrics } from '../../../../relay/metrics.ts';

t.test('activity budget: per address, then per account; an address running out leaves its account alone', async (t) => {
  const metrics = new Metrics();
  let backlogged = false;
  const b = new ActivityBudget({ perIpPerMin: 3, perAccountPerMin: 5, backlogged: () => backlogged, metrics });
  const now = 1000;
  for (let i = 0; i < 3; i++) t.equal(b.take('10.0.0.1', 'acc', now), undefined, `action ${i + 1} from one address`);
  for (let i = 0; i < 10; i++) t.equal(b.take('10.0.0.1', 'acc', now)?.name, 'rateLimited');
  t.match(b.take('10.0.0.1', 'acc', now)?.message, /address/, 'the address is out');
  t.equal(b.take('10.0.0.2', 'acc', now), undefined, 'the account still has budget: the refusals took none of it');
  t.equal(b.take('10.0.0.3', 'acc', now), undefined);
  t.match(b.take('10.0.0.4', 'acc', now)?.message, /account/, 'five for the account, then many addresses are refused too');
  t.equal(b.take('10.0.0.4', 'other', now), undefined, 'another account is untouched');
  t.equal(b.take('10.0.0.1', 'acc', now + 20_000), undefined, 'a minute refills at the per-minute rate (1 in 20 s here)');
  backlogged = true;
  t.same(b.take('10.0.0.9', 'fresh', now + 20_000), { name: 'overloaded', message: 'the activity log is catching up; try again shortly' }, 'a backlog refuses everything client-caused');
  t.equal(metrics.counters.activity_refused_total, 13, 'every refusal counted');
});

function capture(): { lines: any[]; stream: Writable } {
  const lines: any[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  return { lines, stream };
}

t.test('client log: per address and overall limits, a suppressed-count line, disabled levels cost nothing', async (t) => {
  const { lines, stream } = capture();
  const metrics = new Metrics();
  const log = new ClientLog(createLogger('info', stream), metrics, { perIpPerMin: 2, totalPerMin: 5 });
  for (let i = 0; i < 10; i++) log.info('10.0.0.1', { i }, 'agent joined');
  for (let i = 0; i < 3; i++) log.warn('10.0.0.2', { i }, 'closing slow agent');
  await new Promise((r) => setImmediate(r));
  t.equal(lines.filter((l) => l.msg === 'agent joined').length, 2, 'one address gets its 2 lines');
  t.equal(lines.filter((l) => l.msg === 'closing slow agent').length, 2, 'another address its own 2');
  for (let i = 0; i < 5; i++) log.error(`10.0.1.${i}`, {}, 'visitor erasure failed');
  t.equal(metrics.counters.log_lines_suppressed_total, 8 + 1 + 4, 'past 5 lines overall, every address is held back');
  log.stop();
  await new Promise((r) => setImmediate(r));
  const report = lines.find((l) => l.msg === 'client-caused log lines suppressed');
  t.same(report?.byMessage, { 'agent joined': 8, 'closing slow agent': 1, 'visitor erasure failed': 4 }, 'what was held back, by message');
  t.equal(report?.suppressed, 13);
  t.equal(report?.level, 40, 'reported at warn');
  log.stop();
  t.equal(lines.filter((l) => l.msg === 'client-caused log lines suppressed').length, 1, 'nothing more to report, no second line');

  const quiet = new ClientLog(createLogger('warn', stream), new Metrics(), { perIpPerMin: 1, totalPerMin: 1 });
  for (let i = 0; i < 5; i++) quiet.info('10.0.0.1', {}, 'agent joined');
  quiet.warn('10.0.0.1', {}, 'closing slow agent');
  await new Promise((r) => setImmediate(r));
  t.ok(lines.some((l) => l.msg === 'closing slow agent' && l.level === 40 && !('i' in l)), 'info lines below the level take no budget');
});
