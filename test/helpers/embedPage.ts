/** A customer page with the embed in real Chromium, with everything it sends on the wire recorded. */
import type { Browser, Page } from 'playwright-core';
import { decodeFrame } from './frames.ts';

export interface SentFrame {
  at: number;
  text?: string;
  binary?: Buffer;
}

export interface EmbedPage {
  page: Page;
  /** Every WebSocket frame the page sent, in order (all sockets, across reconnects). */
  sent: SentFrame[];
  /** Console errors and uncaught exceptions on the page. */
  errors: string[];
  /** Sent frames as text, binary frames inflated. */
  sentText(): string[];
  visitorId(): Promise<string>;
  events(name?: string): Promise<Array<{ name: string; detail: any }>>;
  violations(): Promise<string[]>;
}

export async function openEmbedPage(browser: Browser, url: string): Promise<EmbedPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const sent: SentFrame[] = [];
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('websocket', (ws) => {
    ws.on('framesent', ({ payload }) => {
      sent.push(typeof payload === 'string' ? { at: Date.now(), text: payload } : { at: Date.now(), binary: Buffer.from(payload) });
    });
  });
  await page.goto(url);
  const ep: EmbedPage = {
    page,
    sent,
    errors,
    sentText: () => sent.map((f) => (f.text !== undefined ? f.text : decodeFrame(f.binary!))),
    async visitorId() {
      const h = await page.waitForFunction(() => (window as any).__cobrowse.events.find((e: any) => e.name === 'ready')?.detail.visitorId, null, { timeout: 10_000 });
      return (await h.jsonValue()) as string;
    },
    events: (name) => page.evaluate((n) => (window as any).__cobrowse.events.filter((e: any) => !n || e.name === n), name),
    violations: () => page.evaluate(() => (window as any).__cobrowse.violations as string[]),
  };
  return ep;
}

/** Clicks a button in the embed's consent/control prompt (open shadow root; getByRole pierces it). */
export async function answerPrompt(page: Page, title: string, button: string): Promise<void> {
  await page.getByRole('alertdialog', { name: title }).waitFor({ timeout: 10_000 });
  await page.getByRole('button', { name: button, exact: true }).click();
}
