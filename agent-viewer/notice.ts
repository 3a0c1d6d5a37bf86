/** A short-lived notice above the view, for things the agent should know but need not act on. */
export class Notice {
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly el: HTMLElement) {}

  /** Shows `text` for `ms`; `code` goes to `data-code` (for tests and support). */
  show(text: string, code: string, ms = 10_000): void {
    clearTimeout(this.timer);
    this.el.textContent = text;
    this.el.dataset.code = code;
    this.el.hidden = false;
    this.timer = setTimeout(() => this.hide(), ms);
  }

  hide(): void {
    clearTimeout(this.timer);
    this.el.hidden = true;
  }
}
