/**
 * The unmask allow-list in real Chromium: fields marked `data-cobrowse-unmask` or matched by the
 * `unmask` option show their values to the agent (snapshot and typing); passwords, card fields,
 * hidden inputs and fields inside masked regions stay masked even when listed; empty fields stay
 * empty (no bullets from a masked placeholder), so an agent can tell empty from filled.
 */
import t from 'tap';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { connectAgent } from '../../helpers/clients.ts';
import { answerPrompt, openEmbedPage } from '../../helpers/embedPage.ts';
import { decodeFrame, frameEvents, isFullSnapshotFrame } from '../../helpers/frames.ts';
import { startTestRelay } from '../../helpers/relay.ts';
import { startSite } from '../../helpers/site.ts';

const MASK = '••••••';

function findById(node: any, id: string): any {
  if (node.attributes?.id === id) return node;
  for (const c of node.childNodes ?? []) {
    const f = findById(c, id);
    if (f) return f;
  }
}

if (!chromiumAvailable()) {
  t.fail('Chromium is not installed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it');
} else {
  t.test('allow-listed fields are visible, sensitive ones never, empty ones empty', async (t) => {
    const site = await startSite();
    t.teardown(site.close);
    const r = await startTestRelay({}, { siteOrigins: [site.origin] });
    t.teardown(r.stop);
    site.relay = `http://127.0.0.1:${r.port}`;
    site.key = r.acme.publicKey;
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const ep = await openEmbedPage(browser, `${site.origin}/unmask.html`);
    const visitorId = await ep.visitorId();
    const agent = await connectAgent(r.port, r.token(r.acme, 'alice', 'Alice'));
    t.teardown(() => agent.close());
    agent.send({ t: 'join', visitorId });
    await answerPrompt(ep.page, 'Alice wants to see this page', 'Allow');
    const full = await agent.until(() => agent.frames.find(isFullSnapshotFrame), 10_000, 'the full snapshot');
    const root = frameEvents(full).find((e) => e.type === 2)!.data.node;
    const attr = (id: string, name: string) => findById(root, id)?.attributes?.[name];

    t.equal(attr('country', 'value'), 'de', 'an allow-listed select shows its value');
    t.match(decodeFrame(full), 'VISIBLE-COUNTRY-DE', 'and its option labels');
    t.equal(attr('qty', 'value'), '3', 'an allow-listed quantity shows its value');
    t.notOk(attr('search', 'value'), 'an empty allow-listed field stays empty');
    t.notOk(attr('empty-masked', 'placeholder'), 'an empty masked field does not look filled (placeholder dropped, not bulleted)');
    t.equal(attr('filled-masked', 'value'), MASK, 'a filled field off the list shows the fixed mask');
    for (const id of ['pw-allowed', 'card-allowed', 'hidden-allowed', 'in-mask']) {
      t.equal(attr(id, 'value'), MASK, `#${id}: listed, but sensitive: masked`);
    }

    // Typing (the input-event path).
    await ep.page.locator('#search').pressSequentially('VISIBLE-TYPED-SEARCH');
    await ep.page.locator('#filled-masked').pressSequentially('CANARY-TYPED-2');
    await ep.page.locator('#pw-allowed').pressSequentially('CANARY-TYPED-PW-2');
    await ep.page.locator('#country').selectOption('fr');
    const all = () => agent.frames.map(decodeFrame).join('\n');
    await agent.until(() => all().includes('VISIBLE-TYPED-SEARCH') && all().includes('"text":"fr"'), 10_000, 'typing in allow-listed fields');
    await agent.until(() => ep.sentText().some((f) => f.includes('"text":"fr"')), 5000, 'the page-side record');
    t.same([...new Set(ep.sentText().join('\n').match(/CANARY[-A-Z0-9]*/g) ?? [])], [], 'nothing else leaves the page');
    t.same(ep.errors, [], 'no error on the page');
  });
}
