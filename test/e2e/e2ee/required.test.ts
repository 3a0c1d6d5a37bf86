/**
 * The account setting `e2e`. `required` (a new account's default): an agent whose viewer offers no
 * key is refused by the embed, before any prompt, and both sides are told why; nothing but the
 * refusal reaches it. `off`: the same agent is shown the page in the clear, and the visitor's
 * sharing bar says it is not end-to-end encrypted.
 */
import t from 'tap';
import { AccountService } from '../../../relay/accounts.ts';
import { SqliteStore } from '../../../relay/store/sqlite.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectAgent } from '../../helpers/clients.ts';
import { startE2eRig } from '../../helpers/e2eRig.ts';
import { allowFromKeyboard } from '../../helpers/viewerPage.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

t.test('a new account requires end-to-end encryption unless created with e2e off', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cobrowse-e2e-acct-'));
  const store = new SqliteStore(dir);
  t.teardown(() => store.close());
  const accounts = new AccountService(store);
  const a = await accounts.create({ name: 'new', origins: ['https://a.example.com'] });
  const b = await accounts.create({ name: 'plain', origins: ['https://b.example.com'], e2e: 'off' });
  t.equal((await store.getAccountById(a.accountId))?.e2e, 'required', 'required by default');
  t.equal((await store.getAccountById(b.accountId))?.e2e, 'off', 'off when asked');
});

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium)');
} else {
  for (const mode of ['required', 'off'] as const) {
    t.test(`e2e ${mode}: an agent without a key`, async (t) => {
      const rig = await startE2eRig(mode);
      t.teardown(rig.close);
      const browser = await launchChromium();
      t.teardown(() => browser.close());
      const visitor = await (await browser.newContext()).newPage();
      await visitor.goto(rig.siteUrl);
      const vid = await visitor.waitForFunction(() => (window as any).__events.find((e: any) => e.name === 'ready')?.detail.visitorId).then((h) => h.jsonValue() as Promise<string>);
      const carol = await connectAgent(rig.relay.port, rig.relay.token(rig.relay.acme, 'carol', 'Carol'));
      t.teardown(() => carol.close());
      carol.send({ t: 'join', visitorId: vid });
      if (mode === 'required') {
        const refused = await carol.next('refused', 10_000);
        t.equal(refused.reason, 'key_refused', 'the agent is refused for its missing key');
        const ev = await visitor.waitForFunction(() => (window as any).__events.find((e: any) => e.name === 'e2e-refused')?.detail).then((h) => h.jsonValue());
        t.match(ev.reason, /did not offer an end-to-end encryption key/, 'the page hears why');
        t.equal(await visitor.getByRole('alertdialog').count(), 0, 'the visitor was not asked');
        t.equal(carol.frames.length, 0, 'no frame reached the agent');
      } else {
        await allowFromKeyboard(visitor, 'Allow');
        await carol.next('joined', 10_000);
        await carol.until(() => carol.frames.find((f) => f[0] === 1 || f[0] === 3), 10_000, 'a plain full snapshot');
        t.ok(carol.frames.every((f) => (f[0] & 0x80) === 0), 'frames go in the clear to a viewer without a key');
        const bar = visitor.getByRole('region', { name: 'Screen sharing' });
        await bar.waitFor({ timeout: 5000 });
        t.match(await bar.textContent(), /not end-to-end encrypted/, 'and the visitor\'s bar says so');
      }
    });
  }
}
