/**
 * The one element the embed adds to the page: `<cobrowse-ui>` with a shadow root holding every
 * prompt, bar and overlay. The recorder blocks it (privacy.ts BLOCK_SELECTOR), so agents never see
 * the visitor's prompts.
 *
 * The page must not be able to hide it (the visitor has to see who is watching):
 * - the tag is defined as a custom element, so `:not(:defined) { visibility: hidden }` misses it;
 * - `:host` rules are `!important`, which beats the page's rules, even its `!important` ones and
 *   inline styles (important declarations of the inner context win);
 * - the overlay layer is a manual popover and prompts are modal dialogs: both render in the top
 *   layer, above any z-index.
 * What still gets through (a page's own later top-layer element, script inside our open root) is
 * caught by guard.ts, and then nothing is shared.
 */
import { UI_CSS } from './styles.ts';

const TAG = 'cobrowse-ui';

function defineTag(): void {
  try {
    if (!customElements.get(TAG)) customElements.define(TAG, class extends HTMLElement {});
  } catch {
    /* no custom elements, or the page took the name: guard.ts will find the UI unusable */
  }
}

export class UiHost {
  private host?: HTMLElement;
  private root?: ShadowRoot;
  private layer?: HTMLElement;
  private sheet?: CSSStyleSheet;

  /** The full-viewport, click-through layer that UI parts are added to (in the top layer). */
  get container(): HTMLElement {
    if (!this.host) this.create();
    this.ensureShown();
    return this.layer!;
  }

  /** The shadow root, for modal dialogs (they go to the top layer on their own). */
  get shadow(): ShadowRoot {
    if (!this.host) this.create();
    this.ensureShown();
    return this.root!;
  }

  /** The `<cobrowse-ui>` element, if created. */
  get element(): HTMLElement | undefined {
    return this.host;
  }

  /** Puts the UI back after the page removed it or stacked something above it. */
  repair(): void {
    if (!this.host) return;
    if (this.sheet && this.root && !this.root.adoptedStyleSheets.includes(this.sheet)) this.root.adoptedStyleSheets = [this.sheet];
    try {
      if (this.layer?.matches(':popover-open')) this.layer.hidePopover(); // re-shown below: on top of the top layer again
    } catch {
      /* no popover support */
    }
    this.ensureShown();
  }

  private ensureShown(): void {
    if (!this.host!.isConnected) document.documentElement.appendChild(this.host!);
    try {
      if (!this.layer!.matches(':popover-open')) this.layer!.showPopover();
    } catch {
      /* no popover support: the layer's z-index is all there is; guard.ts still checks */
    }
  }

  private create(): void {
    defineTag();
    const host = document.createElement(TAG);
    // Open, so assistive tech and the customer's tests can reach it; the recorder still skips it.
    const root = host.attachShadow({ mode: 'open' });
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(UI_CSS);
      root.adoptedStyleSheets = [sheet];
      this.sheet = sheet;
    } catch {
      // Older browsers: a style element (needs style-src 'unsafe-inline' under a strict CSP).
      const style = document.createElement('style');
      style.textContent = UI_CSS;
      root.appendChild(style);
    }
    const layer = document.createElement('div');
    layer.className = 'layer';
    layer.setAttribute('popover', 'manual');
    root.appendChild(layer);
    this.host = host;
    this.root = root;
    this.layer = layer;
  }

  destroy(): void {
    this.host?.remove();
    this.host = this.root = this.layer = undefined;
  }
}
