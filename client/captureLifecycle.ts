/**
 * Capture and its frames as one unit: the recorder (capture.ts) feeds the sender (sender.ts), every
 * frame only while the sharing bar is in front of the visitor, and ending stops both at once so
 * nothing queued leaves the page afterwards.
 */
import { Capture } from './capture.ts';
import { FrameSender } from './sender.ts';

export interface CaptureLifecycleHost {
  /** The open socket, or undefined while disconnected. */
  socket(): WebSocket | undefined;
  /** The relay's frame limit, as its welcome gave it. */
  maxFrameBytes?(): number;
  /** The sharing bar is in front of the visitor (ui/guard.ts): checked for every frame. */
  mayShare(): boolean;
  error(err: unknown): void;
  /** End-to-end encryption (e2e/gate.ts): the sealed frame, or undefined to send it in the clear. */
  seal?(kind: number, payload: Uint8Array): Promise<Uint8Array | undefined>;
}

export class CaptureLifecycle {
  readonly #capture: Capture;
  readonly #sender: FrameSender;

  constructor(rules: { mask: string; block: string }, host: CaptureLifecycleHost) {
    this.#sender = new FrameSender({
      socket: host.socket,
      maxFrameBytes: host.maxFrameBytes,
      overflowed: () => this.#capture.dropPending(),
      // A capture ended meanwhile reset the sender (and its drain wait): this never restarts one.
      drained: () => this.#capture.running && this.#capture.snapshotNow(),
      error: host.error,
      seal: host.seal,
    });
    // Not cached: a stylesheet that finished loading, CSSOM edits and popover or dialog calls change
    // nothing a MutationObserver sees, so a cached pass would let frames out after a hide.
    const ok = host.mayShare;
    this.#capture = new Capture(
      { full: (e) => ok() && this.#sender.full(e), incremental: (e) => ok() && this.#sender.incremental(e), assets: (a) => ok() && this.#sender.assets(a) },
      rules,
      host.error,
    );
  }

  get running(): boolean {
    return this.#capture.running;
  }

  /** Inputs that were ever passwords (privacy.ts and control.ts keep treating them as such). */
  get everPassword(): WeakSet<Element> {
    return this.#capture.everPassword;
  }

  nodeById(id: number): Node | null {
    return this.#capture.nodeById(id);
  }

  /** Starts capture, or takes a fresh full snapshot if it runs; true when it just started. */
  startOrSnapshot(): boolean {
    const wasRunning = this.#capture.running;
    this.#capture.snapshotNow();
    return !wasRunning;
  }

  /** Stops recording and abandons everything queued. */
  end(): void {
    this.#capture.stop();
    this.#sender.reset();
  }
}
