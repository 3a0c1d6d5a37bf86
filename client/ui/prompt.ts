/**
 * Allow/Deny prompts ("Alice wants to see this page"): a modal alertdialog, one at a time, keyboard
 * usable (focus starts on Allow, Tab stays inside, Escape denies), focus restored afterwards.
 */
import { h } from './dom.ts';
import type { UiHost } from './host.ts';

interface Ask {
  key: string;
  title: string;
  body: string;
  allow: string;
  deny: string;
  resolve: (allowed: boolean) => void;
}

export class Prompts {
  private queue: Ask[] = [];
  private current?: { ask: Ask; el: HTMLElement; restoreFocus: Element | null };
  private seq = 0;

  constructor(private readonly host: UiHost) {}

  /** Resolves true for Allow, false for Deny/Escape/cancel. Same `key` replaces a queued prompt. */
  ask(key: string, title: string, body: string, allow = 'Allow', deny = 'Deny'): Promise<boolean> {
    return new Promise((resolve) => {
      this.cancel(key);
      this.queue.push({ key, title, body, allow, deny, resolve });
      this.showNext();
    });
  }

  /** Withdraws a prompt (e.g. the agent left before the visitor answered). */
  cancel(key: string): void {
    for (const a of this.queue.filter((q) => q.key === key)) a.resolve(false);
    this.queue = this.queue.filter((q) => q.key !== key);
    if (this.current?.ask.key === key) this.close(false);
  }

  cancelAll(): void {
    for (const a of this.queue) a.resolve(false);
    this.queue = [];
    if (this.current) this.close(false);
  }

  private showNext(): void {
    if (this.current || this.queue.length === 0) return;
    const ask = this.queue.shift()!;
    const id = `cobrowse-prompt-${++this.seq}`;
    const allowBtn = h('button', { className: 'primary', text: ask.allow, attrs: { type: 'button' } });
    const denyBtn = h('button', { text: ask.deny, attrs: { type: 'button' } });
    const dialog = h('div', { className: 'dialog', attrs: { role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': `${id}-t`, 'aria-describedby': `${id}-d` } }, [
      h('h2', { text: ask.title, attrs: { id: `${id}-t` } }),
      h('p', { text: ask.body, attrs: { id: `${id}-d` } }),
      h('div', { className: 'actions' }, [denyBtn, allowBtn]),
    ]);
    const el = h('div', { className: 'backdrop' }, [dialog]);
    allowBtn.addEventListener('click', () => this.close(true));
    denyBtn.addEventListener('click', () => this.close(false));
    dialog.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.close(false);
      } else if (e.key === 'Tab') {
        // Keep focus inside the dialog: it is modal.
        e.preventDefault();
        const next = el.getRootNode() instanceof ShadowRoot && (el.getRootNode() as ShadowRoot).activeElement === allowBtn ? denyBtn : allowBtn;
        next.focus();
      }
    });
    this.current = { ask, el, restoreFocus: document.activeElement };
    this.host.container.appendChild(el);
    allowBtn.focus();
  }

  private close(allowed: boolean): void {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    cur.el.remove();
    try {
      (cur.restoreFocus as HTMLElement | null)?.focus?.();
    } catch {
      /* the element is gone */
    }
    cur.ask.resolve(allowed);
    this.showNext();
  }
}
