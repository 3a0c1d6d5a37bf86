import { startTestRelay } from './helpers/relay.ts';
const r = await startTestRelay();
const url = `http://127.0.0.1:${r.port}/api/v1/agent-tokens`;
const H = { authorization: `Bearer ${r.acme.secretKey}`, 'content-type': 'application/json' };
async function go(label: string, init: RequestInit) {
  try {
    const res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(5000), ...init });
    console.log(label, res.status, [...res.headers].join(' | '), (await res.text()).slice(0, 300));
  } catch (e) { console.log(label, 'ERR', (e as Error).message, (e as any).cause?.code); }
}
await go('ok', { headers: H, body: JSON.stringify({ agentId: 'alice', name: 'Alice' }) });
await go('ok2', { headers: H, body: JSON.stringify({ agentId: 'alice', name: 'Alice' }) });
await go('empty', { headers: H, body: '' });
await go('nobody', { headers: H });
await go('big', { headers: H, body: JSON.stringify({ agentId: 'alice', name: 'x'.repeat(5000) }) });
await go('huge', { headers: H, body: JSON.stringify({ agentId: 'alice', name: 'x'.repeat(5_000_000) }) });
await go('noauth', { headers: { 'content-type': 'application/json' }, body: '{}' });
await go('noauth-big', { headers: { 'content-type': 'application/json' }, body: 'x'.repeat(100000) });
await go('ct', { headers: { ...H, 'content-type': 'text/plain' }, body: '{}' });
await go('after', { headers: H, body: JSON.stringify({ agentId: 'alice', name: 'Alice' }) });
await r.stop();
