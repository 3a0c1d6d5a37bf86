/**
 * The one element the embed adds to the page: `<cobrowse-ui>` with a shadow root holding every
 * prompt, bar and overlay. The recorder blocks it (privacy.ts BLOCK_SELECTOR), so agents never see
 * the visitor's prompts. Re-attached if the page's own code removes it.
 */
import { UI_CSS } from './styles.ts';

export class UiHost {
  private host?: HTMLElement;
  private layer?: HTMLElement;

  /** The full-viewport, click-through layer that UI parts are added to. */
  get container(): HTMLElement {
    if (!this.host) this.create();
    if (!this.host!.isConnected) document.documentElement.appendChild(this.host!);
    return this.layer!;
  }

  private create(): void {
    const host = document.createElement('cobrowse-ui');
    // Open, so assistive tech and the customer's tests can reach it; the recorder still skips it.
    const root = host.attachShadow({ mode: 'open' });
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(UI_CSS);
      root.adoptedStyleSheets = [sheet];
    } catch {
      // Older browsers: a style element (needs style-src 'unsafe-inline' under a strict CSP).
      const style = document.createElement('style');
      style.textContent = UI_CSS;
      root.appendChild(style);
    }
    const layer = document.createElement('div');
    layer.className = 'layer';
    root.appendChild(layer);
    this.host = host;
    this.layer = layer;
  }

  destroy(): void {
    this.host?.remove();
    this.host = this.layer = undefined;
  }
}
