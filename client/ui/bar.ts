/** The "Sharing with Alice — Stop" bar, visible for as long as anyone can see the page. */
import { h } from './dom.ts';
import type { UiHost } from './host.ts';

export interface BarState {
  watchers: string[];
  /** Names of agents that hold control. */
  controllers: string[];
  /** The page goes to them end-to-end encrypted (client/e2e/gate.ts). */
  encrypted?: boolean;
}

export class SharingBar {
  private el?: HTMLElement;

  constructor(
    private readonly host: UiHost,
    private readonly actions: { stopSharing(): void; revokeControl(): void },
  ) {}

  /** The bar while shown (guard.ts checks it is in front of the visitor). */
  get element(): HTMLElement | undefined {
    return this.el;
  }

  render(state: BarState): void {
    if (state.watchers.length === 0) {
      this.hide();
      return;
    }
    const who = list(state.watchers);
    const base = state.controllers.length > 0 ? `${list(state.controllers)} can control this page` : `Sharing this page with ${who}`;
    const text = state.encrypted ? `${base} · end-to-end encrypted` : `${base} · not end-to-end encrypted`;
    const buttons: HTMLElement[] = [];
    if (state.controllers.length > 0) {
      const revoke = h('button', { text: 'Revoke control', attrs: { type: 'button' } });
      revoke.addEventListener('click', () => this.actions.revokeControl());
      buttons.push(revoke);
    }
    const stop = h('button', { className: 'primary', text: 'Stop sharing', attrs: { type: 'button' } });
    stop.addEventListener('click', () => this.actions.stopSharing());
    buttons.push(stop);
    const el = h('div', { className: 'bar', attrs: { role: 'region', 'aria-label': 'Screen sharing', 'data-e2e': state.encrypted ? 'on' : 'off' } }, [
      h('i', { className: 'dot', attrs: { 'aria-hidden': 'true' } }),
      h('span', { text, attrs: { 'aria-live': 'polite' } }),
      ...buttons,
    ]);
    if (this.el) this.el.replaceWith(el);
    else this.host.container.appendChild(el);
    this.el = el;
  }

  hide(): void {
    this.el?.remove();
    this.el = undefined;
  }
}

function list(names: string[]): string {
  const unique = [...new Set(names)];
  return unique.length <= 2 ? unique.join(' and ') : `${unique.slice(0, 2).join(', ')} and ${unique.length - 2} more`;
}
