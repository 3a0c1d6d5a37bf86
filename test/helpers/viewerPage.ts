/** The agent viewer in real Chromium, for browser tests: open it signed in, and look into the live view. */
import type { Browser, Page } from 'playwright-core';
import { sleep } from './clients.ts';

export interface ViewerPage {
  page: Page;
  /** Console errors, uncaught exceptions and CSP violations in the viewer page. */
  errors: string[];
  /** Every `<body data-state>` the viewer went through, in order. */
  states(): Promise<string[]>;
  state(): Promise<string>;
  waitState(state: string, timeout?: number): Promise<void>;
  /** Evaluates `fn` against the replayed page's document (the Replayer's iframe). */
  /** `fn` may be a function or its source text (to close over values from the test). */
  inView<T>(fn: ((doc: Document) => T) | string): Promise<T | undefined>;
  /** Waits until `fn(doc)` is truthy in the replayed page. */
  waitInView(fn: (doc: Document) => unknown, timeout?: number, what?: string): Promise<void>;
  /** Agent-page coordinates of the centre of the first element matching `selector` in the replayed page. */
  pointOf(selector: string): Promise<{ x: number; y: number }>;
  /**
   * In control mode, clicks the replayed field `selector` once its place on screen is steady and
   * waits for the typing box. A click that a late reflow moved off the field is tried again (at most
   * three times); every miss is returned, with what was under the pointer, for the test to print.
   */
  openTyping(selector: string): Promise<string[]>;
  /** Joins the visitor by clicking Watch in the list (searching for `search` first, if given). */
  watch(visitorId: string, search?: string): Promise<void>;
}

export async function openViewer(browser: Browser, base: string, token: string, viewport = { width: 1400, height: 900 }): Promise<ViewerPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  await page.goto(`${base}/agent/#token=${token}`);
  // Record every state the viewer goes through (the observer runs in the page; CSP does not apply to evaluate).
  await page.evaluate(() => {
    const w = window as unknown as { __states: string[] };
    w.__states = [document.body.dataset.state ?? ''];
    new MutationObserver(() => {
      const s = document.body.dataset.state ?? '';
      if (w.__states[w.__states.length - 1] !== s) w.__states.push(s);
    }).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
  });
  const v: ViewerPage = {
    page,
    errors,
    states: () => page.evaluate(() => (window as unknown as { __states: string[] }).__states.slice()),
    state: () => page.evaluate(() => document.body.dataset.state ?? ''),
    async waitState(state, timeout = 10_000) {
      await page.waitForFunction((s) => document.body.dataset.state === s, state, { timeout }).catch(async () => {
        throw new Error(`viewer never reached state ${state} (now ${await v.state()}; ${await page.textContent('#message-text')})`);
      });
    },
    inView: (fn) =>
      page.evaluate(`(() => { const f = [...document.querySelectorAll('#stage iframe')].find((f) => f.closest('.replay-host').style.visibility !== 'hidden'); const d = f && f.contentDocument; return d ? (${fn.toString()})(d) : undefined; })()`) as Promise<never>,
    async waitInView(fn, timeout = 10_000, what = 'a condition in the replayed page') {
      // Polled from here: the viewer's CSP (no 'unsafe-eval') forbids waitForFunction's in-page string predicates.
      const deadline = Date.now() + timeout;
      for (;;) {
        if (await v.inView(fn).catch(() => false)) return;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(15);
      }
    },
    async pointOf(selector) {
      return page.evaluate((sel) => {
        const iframe = [...document.querySelectorAll<HTMLIFrameElement>('#stage iframe')].find((f) => (f.closest('.replay-host') as HTMLElement).style.visibility !== 'hidden')!;
        const el = iframe.contentDocument!.querySelector(sel)!;
        const r = el.getBoundingClientRect();
        const f = iframe.getBoundingClientRect();
        const scale = f.width / iframe.offsetWidth;
        return { x: f.left + (r.left + r.width / 2) * scale, y: f.top + (r.top + r.height / 2) * scale };
      }, selector);
    },
    async openTyping(selector) {
      const misses: string[] = [];
      for (let attempt = 1; ; attempt++) {
        let at = await v.pointOf(selector);
        for (let steady = 0; steady < 3; ) {
          await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
          const again = await v.pointOf(selector);
          steady = again.x === at.x && again.y === at.y ? steady + 1 : 0;
          at = again;
        }
        await page.mouse.click(at.x, at.y);
        const opened = await page.locator('#typebox').waitFor({ state: 'visible', timeout: 5000 }).then(() => true, () => false);
        if (opened) return misses;
        const moved = await v.pointOf(selector);
        const under = await page.evaluate(({ x, y }) => {
          const hit = document.elementFromPoint(x, y);
          return `${hit?.tagName.toLowerCase()}#${hit?.id}.${hit?.className}; mode ${document.getElementById('tool-layer')?.dataset.mode}; status "${document.getElementById('status')?.textContent}"`;
        }, at);
        misses.push(`clicked ${at.x},${at.y}; field now at ${moved.x},${moved.y}; under the pointer: ${under}`);
        if (attempt === 3) throw new Error(`the typing box never opened for ${selector}: ${misses.join(' | ')}`);
      }
    },
    async watch(visitorId, search) {
      if (search !== undefined) await page.fill('#search', search);
      const btn = page.locator(`li[data-visitor-id="${visitorId}"] button.watch`);
      await btn.waitFor({ timeout: 10_000 });
      await page.waitForFunction((id) => !(document.querySelector(`li[data-visitor-id="${id}"] button.watch`) as HTMLButtonElement)?.disabled, visitorId, { timeout: 10_000 });
      await btn.click();
    },
  };
  return v;
}

/**
 * Answers the embed's prompt (an alertdialog in the open shadow root of `<cobrowse-ui>`) from the
 * keyboard: focus starts on the allow button, Enter presses it. Falls back to window.confirm for
 * an embed without the dialog.
 */
export async function allowFromKeyboard(page: Page, button = 'Allow'): Promise<void> {
  const btn = page.getByRole('button', { name: button, exact: true });
  await btn.waitFor({ timeout: 10_000 });
  await btn.focus();
  await btn.press('Enter');
}

/** Elements in the embed's shadow UI on the visitor page matching `selector`. */
export function shadowCount(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => document.querySelector('cobrowse-ui')?.shadowRoot?.querySelectorAll(sel).length ?? 0, selector);
}

/** Re-exported for the viewer tests: one definition, in clients.ts. */
export { sleep };
