/**
 * Allow/Deny prompts ("Alice wants to see this page"): a modal `<dialog>` (role alertdialog) shown
 * with showModal(), so it is in the top layer above anything the page stacks; one at a time,
 * keyboard usable (focus starts on Allow, Tab stays inside, Escape denies), focus restored after.
 *
 * An Allow counts only if it is a trusted event (the visitor, not page script) and the dialog is
 * really visible at that moment (guard.ts). A prompt the page keeps hidden is answered for the
 * visitor: refused with `ui_hidden`, so the agent learns why and nothing is shared.
 */
import { UI_HIDDEN, type VisitorEndReason } from '../../protocol/control.ts';
import { h } from './dom.ts';
import { UiGuard } from './guard.ts';
import type { UiHost } from './host.ts';

export interface Answer {
  allow: boolean;
  /** Set when the visitor could not answer because the page hid the prompt. */
  reason?: VisitorEndReason;
}

interface Ask {
  key: string;
  title: string;
  body: string;
  allow: string;
  deny: string;
  resolve: (answer: Answer) => void;
}

export class Prompts {
  private queue: Ask[] = [];
  private current?: { ask: Ask; el: HTMLDialogElement; restoreFocus: Element | null; guard: UiGuard };
  private seq = 0;
  /** True while we close a dialog ourselves (to re-show it), so its `close` event is not a hide. */
  private ownClose = false;

  constructor(private readonly host: UiHost) {}

  ask(key: string, title: string, body: string, allow = 'Allow', deny = 'Deny'): Promise<Answer> {
    return new Promise((resolve) => {
      this.cancel(key);
      this.queue.push({ key, title, body, allow, deny, resolve });
      this.showNext();
    });
  }

  /** Withdraws a prompt (e.g. the agent left before the visitor answered). */
  cancel(key: string): void {
    for (const a of this.queue.filter((q) => q.key === key)) a.resolve({ allow: false });
    this.queue = this.queue.filter((q) => q.key !== key);
    if (this.current?.ask.key === key) this.close({ allow: false });
  }

  cancelAll(): void {
    for (const a of this.queue) a.resolve({ allow: false });
    this.queue = [];
    if (this.current) this.close({ allow: false });
  }

  private showNext(): void {
    if (this.current || this.queue.length === 0) return;
    const ask = this.queue.shift()!;
    const id = `cobrowse-prompt-${++this.seq}`;
    const allowBtn = h('button', { className: 'primary', text: ask.allow, attrs: { type: 'button' } });
    const denyBtn = h('button', { text: ask.deny, attrs: { type: 'button' } });
    const dialog = h('dialog', { className: 'dialog', attrs: { role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': `${id}-t`, 'aria-describedby': `${id}-d` } }, [
      h('h2', { text: ask.title, attrs: { id: `${id}-t` } }),
      h('p', { text: ask.body, attrs: { id: `${id}-d` } }),
      h('div', { className: 'actions' }, [denyBtn, allowBtn]),
    ]);
    allowBtn.addEventListener('click', (e) => {
      // Page script can click too (untrusted), or click through a prompt it hid: neither is consent.
      if (!e.isTrusted || !this.current || this.current.el !== dialog || !this.current.guard.ok()) return;
      this.close({ allow: true });
    });
    denyBtn.addEventListener('click', () => this.close({ allow: false }));
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault(); // Escape: we close it ourselves, as a Deny
      this.close({ allow: false });
    });
    // Closed by anyone but us (page script reaching into the open root): the visitor did not answer.
    dialog.addEventListener('close', () => !this.ownClose && this.current?.el === dialog && this.close({ allow: false, reason: UI_HIDDEN }));
    dialog.addEventListener('keydown', (e) => {
      if (e.key === 'Tab') {
        // Keep focus inside the dialog: it is modal.
        e.preventDefault();
        const next = (dialog.getRootNode() as ShadowRoot).activeElement === allowBtn ? denyBtn : allowBtn;
        next.focus();
      }
    });
    const guard = new UiGuard(
      () => this.host.element,
      () => dialog,
      () => this.reshow(dialog),
      () => this.close({ allow: false, reason: UI_HIDDEN }),
      false,
      3, // nothing is shared while a prompt is up: putting it back (re-attached, on top) is safe
    );
    this.current = { ask, el: dialog, restoreFocus: document.activeElement, guard };
    this.host.shadow.appendChild(dialog);
    this.reshow(dialog);
    allowBtn.focus();
    guard.start();
  }

  /** (Re)opens the dialog as modal: back in the document and on top of the top layer. */
  private reshow(dialog: HTMLDialogElement): void {
    const root = this.host.shadow;
    if (dialog.parentNode !== root) root.appendChild(dialog);
    if (dialog.open) {
      this.ownClose = true;
      dialog.close(); // its `close` event is queued: ownClose is reset only after it ran
      setTimeout(() => (this.ownClose = false));
    }
    try {
      dialog.showModal();
    } catch {
      dialog.setAttribute('open', ''); // no top layer here: the guard decides whether it is visible
    }
  }

  private close(answer: Answer): void {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    cur.guard.stop();
    if (cur.el.open) {
      this.ownClose = true;
      cur.el.close();
      setTimeout(() => (this.ownClose = false));
    }
    cur.el.remove();
    try {
      (cur.restoreFocus as HTMLElement | null)?.focus?.();
    } catch {
      /* the element is gone */
    }
    cur.ask.resolve(answer);
    this.showNext();
  }
}
