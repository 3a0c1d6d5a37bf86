import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { SqliteStore } from './relay/store/sqlite.ts';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vac-'));
const s = new SqliteStore(dir);
await s.appendActivity([{accountId:'a', at:new Date(), type:'session_requested', userKey:'k'}]);
console.log(await s.purgeActivity('a','k'));
try { await s.close(); console.log('closed'); } catch (e) { console.log('close err', e); }
