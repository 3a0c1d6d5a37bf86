/**
 * The end-to-end encryption tests' setup: a customer site serving a canary-filled page (text,
 * attribute, stylesheet and a same-origin SVG image, which goes out as an asset frame), a real relay,
 * and a passive tap (tapProxy.ts) in front of the relay that both the embed and the viewer go through.
 * Canaries are kept out of the page's URL and title: those are metadata the relay sees by design.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import { freePort, startTestRelay, type TestRelay } from './relay.ts';
import { startTapProxy, type TapProxy, type WsMessage } from './tapProxy.ts';
import { allowFromKeyboard, openViewer, type ViewerPage } from './viewerPage.ts';
import type { Browser, Page } from 'playwright-core';

export const CANARIES = ['CANARYtext91b2e7', 'CANARYattr44c1d0', 'CANARYcss7f3a55', 'CANARYsvg0d9e12', 'CANARYlate5c8e31'];

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="4" y="24">${CANARIES[3]}</text></svg>`;

function page(relay: string, key: string, extraAttrs: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<style>.c::after { content: "${CANARIES[2]}"; } body { font: 16px sans-serif; }</style></head>
<body><input id="field" name="comment" value=""><h1 id="h">${CANARIES[0]} welcome</h1>
<p id="p" title="${CANARIES[1]}">${'Lorem ipsum dolor sit amet. '.repeat(10)}</p>
<img id="svg" src="/canary.svg" width="120" height="40" alt="">
<div class="c" id="c"></div>
<script>window.__events = []; window.Cobrowse = { q: [['on', ['ready', (d) => window.__events.push({ name: 'ready', detail: d })]], ['on', ['e2e-refused', (d) => window.__events.push({ name: 'e2e-refused', detail: d })]]] };</script>
<script src="${relay}/embed.js" data-key="${key}" data-unmask="#field" ${extraAttrs} async></script></body></html>`;
}

export interface E2eRig {
  relay: TestRelay;
  tap: TapProxy;
  /** The relay as clients see it: through the tap. */
  base: string;
  siteUrl: string;
  /** Snippet attributes for the next page load (e.g. `data-agent-key="ES256:…"`). */
  snippetAttrs: string;
  close(): Promise<void>;
}

/** `e2e`: the account's setting (the product's default for a new account is `required`). */
/** `env`: more relay settings (e.g. MAX_PAYLOAD_BYTES). */
export async function startE2eRig(e2e: 'required' | 'off' = 'required', env: Record<string, string> = {}): Promise<E2eRig> {
  const rig = { snippetAttrs: '' } as E2eRig;
  const site = http.createServer((req, res) => {
    if (req.url === '/canary.svg') return void res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=600' }).end(SVG);
    if (req.url === '/' || req.url?.startsWith('/?')) return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(rig.base, rig.relay.acme.publicKey, rig.snippetAttrs));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  const siteOrigin = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
  const port = await freePort();
  rig.tap = await startTapProxy(port);
  rig.base = `http://127.0.0.1:${rig.tap.port}`;
  rig.relay = await startTestRelay({ PORT: String(port), PUBLIC_URL: rig.base, ...env }, { siteOrigins: [siteOrigin], e2e });
  rig.siteUrl = `${siteOrigin}/`;
  rig.close = async () => {
    await rig.relay.stop();
    await rig.tap.close();
    await new Promise<void>((r) => site.close(() => r()));
  };
  return rig;
}

/** Every form a canary could take on the wire: raw, base64 / base64url at each alignment. */
function forms(canary: string): Buffer[] {
  const raw = Buffer.from(canary);
  const out = [raw];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift, 0x20), raw]).toString('base64');
    // Drop the characters that depend on neighbouring bytes.
    const inner = b64.slice(shift === 0 ? 0 : 4, -4);
    out.push(Buffer.from(inner), Buffer.from(inner.replace(/\+/g, '-').replace(/\//g, '_')));
  }
  return out;
}

/** Inflated views of a payload, where some suffix of it is a deflate-raw stream (plain kinds 3, 4 and anything else that inflates). */
function inflations(payload: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (const skip of [0, 1, 14]) {
    if (payload.length <= skip) continue;
    try {
      out.push(zlib.inflateRawSync(payload.subarray(skip), { maxOutputLength: 64 * 1024 * 1024 }));
    } catch {
      /* not deflate */
    }
  }
  return out;
}

/** Which canaries (and in which form) appear in these bytes or messages; empty when none. */
export function canariesIn(bytes: Buffer, messages: WsMessage[]): string[] {
  const found: string[] = [];
  for (const c of CANARIES) {
    const fs = forms(c);
    if (fs.some((f) => bytes.includes(f))) found.push(`${c} in the raw stream`);
    for (const m of messages) {
      for (const view of [m.payload, ...inflations(m.payload)]) {
        if (fs.some((f) => view.includes(f))) found.push(`${c} in a ${m.dir} message (kind ${m.payload[0]}, ${m.payload.length} bytes)`);
      }
    }
  }
  return [...new Set(found)];
}

/**
 * The usual start of an encrypted session in Chromium: alice's viewer watching the rig's page, the
 * visitor's consent given from the keyboard, the session live and the real page in the view.
 */
export async function watchRigPage(browser: Browser, rig: E2eRig): Promise<{ viewer: ViewerPage; visitor: Page; vid: string }> {
  const viewer = await openViewer(browser, rig.base, rig.relay.token(rig.relay.acme, 'alice', 'Alice'));
  await viewer.waitState('idle');
  const visitor = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
  await visitor.goto(rig.siteUrl);
  const vid = await visitor.waitForFunction(() => (window as any).__events.find((e: any) => e.name === 'ready')?.detail.visitorId).then((h) => h.jsonValue() as Promise<string>);
  await viewer.watch(vid, '');
  await allowFromKeyboard(visitor, 'Allow');
  await viewer.waitState('live', 15_000);
  // Runs in the page (serialised): the canary is spelled out, not CANARIES[0].
  await viewer.waitInView((d) => d.getElementById('h')?.textContent?.includes('CANARYtext91b2e7'), 10_000, 'the real page');
  return { viewer, visitor, vid };
}
