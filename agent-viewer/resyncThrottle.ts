/**
 * Spaces out the viewer's `resync` requests after dropped frames. Each one makes the visitor's page
 * send a full snapshot; a page whose snapshot is itself undecodable (say, over the size cap) would
 * otherwise loop: drop → resync → same snapshot → drop. The first request goes at once; more within
 * the wait are folded into one sent when it ends; the wait doubles up to MAX_MS and goes back to
 * nothing once a full snapshot has been applied.
 */
const MIN_MS = 1000;
const MAX_MS = 30_000;

export class ResyncThrottle {
  private wait = MIN_MS;
  private nextAt = 0;
  private timer?: ReturnType<typeof setTimeout>;
  /** Requests actually sent (exposed for tests and support). */
  sent = 0;

  constructor(private readonly send: () => void, private readonly now: () => number = Date.now) {}

  request(): void {
    if (this.timer) return; // one is already due
    const due = this.nextAt - this.now();
    if (due <= 0) this.fire();
    else this.timer = setTimeout(() => this.fire(), due);
  }

  /** A full snapshot was applied: the stream is healthy again. */
  reset(): void {
    this.wait = MIN_MS;
    this.nextAt = 0;
  }

  /** Out of the session: nothing due is sent. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.sent++;
    this.send();
    this.nextAt = this.now() + this.wait;
    this.wait = Math.min(MAX_MS, this.wait * 2);
  }
}
