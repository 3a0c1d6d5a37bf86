/**
 * Is a piece of our UI really in front of the visitor? The consent prompt must be for an answer to
 * count, and the sharing bar must be for sharing to go on. Checked from the inside, without a
 * screenshot: connected, rendered (`checkVisibility` with opacity and visibility), big enough, on
 * screen, the host not restyled, and a hit test at its centre landing on it (nothing stacked above).
 */
export type UiProblem = 'removed' | 'hidden' | 'too_small' | 'off_screen' | 'restyled' | 'covered';

/** Smallest width and height, in CSS pixels, that counts as visible. */
const MIN_PX = 16;

/** `ownCover`: our own UI (a prompt above the bar) in front of `el` is fine; the page's is not. */
export function uiProblem(host: HTMLElement | undefined, el: HTMLElement | undefined, ownCover = false): UiProblem | undefined {
  if (!host || !el || !host.isConnected || !el.isConnected || el.getRootNode() !== host.shadowRoot) return 'removed';
  const cs = getComputedStyle(host);
  if (cs.display === 'none' || cs.visibility !== 'visible' || cs.opacity !== '1' || cs.transform !== 'none' || cs.filter !== 'none' || cs.clipPath !== 'none' || cs.contentVisibility === 'hidden') {
    return 'restyled';
  }
  const check = (el as { checkVisibility?: (o: object) => boolean }).checkVisibility;
  if (check && !check.call(el, { opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true })) return 'hidden';
  const own = getComputedStyle(el);
  if (own.opacity !== '1' || own.visibility !== 'visible') return 'hidden';
  const r = el.getBoundingClientRect();
  if (r.width < MIN_PX || r.height < MIN_PX) return 'too_small';
  const vw = document.documentElement.clientWidth || innerWidth;
  const vh = document.documentElement.clientHeight || innerHeight;
  if (r.left < 0 || r.top < 0 || r.right > vw || r.bottom > vh) return 'off_screen';
  const x = r.left + r.width / 2;
  const y = r.top + r.height / 2;
  // The document sees our shadow content as the host. When our own UI may cover `el`, that is
  // enough; otherwise the shadow root resolves which of our elements is on top (a second hit test).
  if (document.elementFromPoint(x, y) !== host) return 'covered';
  if (ownCover) return undefined;
  const inner = host.shadowRoot!.elementFromPoint(x, y);
  if (!inner || !el.contains(inner)) return 'covered';
  return undefined;
}

const REPAIR_WINDOW_MS = 10_000;

/**
 * Keeps checking one UI element while it matters: on demand (`ok()`, e.g. before each frame is
 * sent), every CHECK_MS, and when the page changes its top level or head. A failed check may first
 * repair (re-attach, back on top), at most `maxRepairs` times in REPAIR_WINDOW_MS; past that, or
 * if the repair does not help, `fail` runs. The sharing bar gets no repairs: a page that hid it
 * while content was flowing could hide it again before the repair is ever painted.
 */
export class UiGuard {
  static CHECK_MS = 250;
  private timer?: ReturnType<typeof setInterval>;
  private observer?: MutationObserver;
  private repairs: number[] = [];

  constructor(
    private readonly host: () => HTMLElement | undefined,
    private readonly target: () => HTMLElement | undefined,
    private readonly repair: () => void,
    private readonly fail: (problem: UiProblem) => void,
    private readonly ownCover = false,
    private readonly maxRepairs = 0,
  ) {}

  get watching(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer) return;
    this.repairs = [];
    this.timer = setInterval(() => this.ok(), UiGuard.CHECK_MS);
    try {
      this.observer = new MutationObserver(() => this.ok());
      this.observer.observe(document.documentElement, { childList: true, attributes: true });
      if (document.head) this.observer.observe(document.head, { childList: true, subtree: true, characterData: true });
      if (document.body) this.observer.observe(document.body, { attributes: true });
      const host = this.host();
      if (host) this.observer.observe(host, { attributes: true });
    } catch {
      /* the timer still runs */
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.observer?.disconnect();
    this.observer = undefined;
  }

  /**
   * True if the element is in front of the visitor now (after at most one repair). A check on a
   * page with pending DOM changes forces the layout the browser would do anyway before painting,
   * plus one hit test (measured: ~1.2 ms of hit test on a 5,000-element page).
   */
  ok(): boolean {
    const now = Date.now();
    const first = uiProblem(this.host(), this.target(), this.ownCover);
    if (!first) return true;
    this.repairs = this.repairs.filter((t) => now - t < REPAIR_WINDOW_MS);
    if (this.repairs.length < this.maxRepairs) {
      this.repairs.push(now);
      try {
        this.repair();
      } catch {
        /* judged below */
      }
      if (!uiProblem(this.host(), this.target(), this.ownCover)) return true;
    }
    this.stop();
    this.fail(first);
    return false;
  }
}
