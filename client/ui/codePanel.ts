/** Shows the 6-digit lookup code the visitor reads out to an agent. Escape or Close hides it; so does an agent joining. */
import { h } from './dom.ts';
import type { UiHost } from './host.ts';

export class CodePanel {
  private el?: HTMLElement;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly host: UiHost) {}

  show(code: string, expiresAt: Date): void {
    this.hide();
    const close = h('button', { text: 'Close', attrs: { type: 'button' } });
    close.addEventListener('click', () => this.hide());
    const time = expiresAt.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const el = h('div', { className: 'code', attrs: { role: 'dialog', 'aria-label': 'Your support code' } }, [
      h('span', { text: 'Your support code' }),
      h('strong', { text: `${code.slice(0, 3)} ${code.slice(3)}`, attrs: { 'data-cobrowse-code': code } }),
      h('small', { text: `Valid until ${time}` }),
      close,
    ]);
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.hide();
      }
    });
    this.host.container.appendChild(el);
    this.el = el;
    close.focus();
    this.timer = setTimeout(() => this.hide(), Math.max(0, expiresAt.getTime() - Date.now()));
  }

  hide(): void {
    clearTimeout(this.timer);
    this.el?.remove();
    this.el = undefined;
  }
}
