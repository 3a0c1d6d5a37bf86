import { measureIdle } from './idle.ts';
import { RelayHandle, type Impl } from './relayHandle.ts';
for (const impl of (process.argv[2] ?? 'uws,uws-bare').split(',') as Impl[]) {
  const r = await RelayHandle.start(impl);
  try {
    const res = await measureIdle(r, { visitors: Number(process.argv[3] ?? 3000) });
    console.log(impl, JSON.stringify(res));
  } finally { await r.stop(); }
}
process.exit(0);
