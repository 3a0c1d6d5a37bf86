/**
 * End-to-end encryption, shown on the wire: a passive tap in front of the relay records every byte
 * both ways (the embed's socket, the viewer's socket and every HTTP request) while an agent watches a
 * canary-filled page (text, attribute, stylesheet, an image sent as an asset frame, a change after
 * the snapshot). No canary in any form (raw, deflated, base64) crosses the tap, every binary frame is
 * an encrypted kind, and the agent's view shows every canary all the same. The visitor's consent
 * prompt and the viewer show the same verification code; typing by the agent crosses sealed.
 */
import t from 'tap';
import { ENCRYPTED_KIND_BIT } from '../../../protocol/frames.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { CANARIES, canariesIn, startE2eRig } from '../../helpers/e2eRig.ts';
import { allowFromKeyboard, openViewer } from '../../helpers/viewerPage.ts';

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium)');
} else {
  t.test('a tap on the relay sees no page content; the agent sees the page', async (t) => {
    const rig = await startE2eRig();
    t.teardown(rig.close);
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const visitor = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
    const visitorErrors: string[] = [];
    visitor.on('pageerror', (e) => visitorErrors.push(e.message));
    await visitor.goto(rig.siteUrl);
    const vid = await visitor.waitForFunction(() => (window as any).__events.find((e: any) => e.name === 'ready')?.detail.visitorId).then((h) => h.jsonValue() as Promise<string>);

    const viewer = await openViewer(rig.relay ? browser : browser, rig.base, rig.relay.token(rig.relay.acme, 'alice', 'Alice'));
    await viewer.waitState('idle');
    await viewer.watch(vid, '');
    const prompt = visitor.getByRole('alertdialog', { name: 'Alice wants to see this page' });
    await prompt.waitFor({ timeout: 10_000 });
    const promptText = (await prompt.textContent())!;
    const promptCode = /Verification code: (\d{3} \d{3})/.exec(promptText)?.[1];
    t.ok(promptCode, `the consent prompt shows a verification code (${promptCode})`);
    t.match(promptText, /End-to-end encrypted/, 'and says the session is end-to-end encrypted');
    await allowFromKeyboard(visitor, 'Allow');
    await viewer.waitState('live', 15_000);

    // The view shows the page, every canary included (the ::after text lives in the replayed stylesheet).
    await viewer.waitInView((d) => d.getElementById('h')?.textContent?.includes('CANARYtext91b2e7'), 10_000, 'the heading canary');
    t.equal(await viewer.inView((d) => d.getElementById('p')?.getAttribute('title')), CANARIES[1], 'the attribute canary is in the view');
    t.ok(await viewer.inView((d) => [...d.querySelectorAll('style')].some((s) => s.textContent!.includes('CANARYcss7f3a55'))), 'the stylesheet canary is in the view');
    await viewer.waitInView((d) => (d.getElementById('svg') as HTMLImageElement | null)?.src.startsWith('blob:'), 10_000, 'the SVG from its asset frame');
    t.pass('the image came as an asset frame');

    // A change after the snapshot (an incremental frame).
    await visitor.evaluate((c) => document.getElementById('c')!.insertAdjacentHTML('afterend', `<p id="late">${c}</p>`), CANARIES[4]);
    await viewer.waitInView((d) => d.getElementById('late')?.textContent === 'CANARYlate5c8e31', 10_000, 'the late canary');
    t.pass('a change after the snapshot reaches the view');

    const e2e = viewer.page.locator('#e2e');
    await viewer.page.waitForFunction(() => /verification code/.test(document.getElementById('e2e')!.textContent!), null, { timeout: 10_000 });
    t.equal(await e2e.getAttribute('data-e2e'), 'on', 'the viewer says the session is end-to-end encrypted');
    t.equal(/verification code (\d{3} \d{3})/.exec((await e2e.textContent())!)?.[1], promptCode, 'with the same code the visitor was shown');
    const bar = visitor.getByRole('region', { name: 'Screen sharing' });
    t.match(await bar.textContent(), /end-to-end encrypted/, 'the visitor\'s sharing bar says so too');

    // The agent types into the page: it arrives, and it crossed the relay sealed.
    await viewer.page.click('#tool-control');
    await allowFromKeyboard(visitor, 'Allow control');
    await viewer.page.waitForFunction(() => document.getElementById('tool-control')?.dataset.granted === 'true', null, { timeout: 5000 });
    for (const miss of await viewer.openTyping('#field')) t.comment(`a click missed the field: ${miss}`);
    await viewer.page.locator('#type-text').pressSequentially('AGENTtyped77');
    await visitor.waitForFunction(() => (document.getElementById('field') as HTMLInputElement).value === 'AGENTtyped77', null, { timeout: 5000 });
    t.pass('the agent\'s typing reached the field');

    // Everything the tap recorded.
    const messages = rig.tap.messages();
    const frames = messages.filter((m) => m.opcode === 2);
    const up = frames.filter((m) => m.dir === 'up');
    const down = frames.filter((m) => m.dir === 'down');
    t.ok(up.length >= 3 && down.length >= 3, `frames crossed the tap (${up.length} from the embed, ${down.length} to the viewer)`);
    t.same(frames.filter((m) => (m.payload[0] & ENCRYPTED_KIND_BIT) === 0).map((m) => m.payload[0]), [], 'every binary frame is an encrypted kind');
    t.ok(up.some((m) => m.payload[0] === (ENCRYPTED_KIND_BIT | 5)), 'the image went as an encrypted asset frame');
    const bytes = rig.tap.allBytes();
    t.ok(bytes.length > 10_000, `the tap recorded ${bytes.length} bytes`);
    t.same(canariesIn(bytes, messages), [], 'no canary in any form anywhere in what the tap saw');
    const typed = messages.filter((m) => m.opcode === 1 && m.payload.includes('"t":"input"'));
    t.ok(typed.length > 0, `${typed.length} input messages crossed`);
    t.notOk(bytes.includes(Buffer.from('AGENTtyped')), 'the agent\'s typing never crossed in the clear');
    // Control: the canary search does find what it looks for.
    t.ok(canariesIn(Buffer.from(`x${Buffer.from('  ' + CANARIES[0]).toString('base64')}x`), []).length > 0, 'the search finds a base64 canary (control)');
    t.same(visitorErrors, [], 'no uncaught errors on the visitor page');
  });
}
