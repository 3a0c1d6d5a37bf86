/**
 * Short notices at the top of the page: who started or stopped watching, and why sharing ended.
 * The bar says who is watching now; these say when it changed, so a resumed session (no prompt
 * within the consent memory) is never silent.
 */
import { h } from './dom.ts';
import type { UiHost } from './host.ts';

const NOTICE_MS = 6000;

export class Notices {
  private el?: HTMLElement;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly host: UiHost) {}

  show(text: string): void {
    clearTimeout(this.timer);
    const el = h('div', { className: 'notice', text, attrs: { role: 'status', 'data-cobrowse-notice': '' } });
    if (this.el?.isConnected) this.el.replaceWith(el);
    else this.host.container.appendChild(el);
    this.el = el;
    this.timer = setTimeout(() => this.hide(), NOTICE_MS);
  }

  hide(): void {
    clearTimeout(this.timer);
    this.el?.remove();
    this.el = undefined;
  }
}
