/**
 * Everything the agent socket receives, handed on strictly in arrival order, with decoding bounded.
 *
 * Why: frames are decoded in a worker (frameDecoder.ts) and a decoded frame can be tens of MiB of
 * parsed events held by the UI thread until it is applied. Decoding every frame on arrival let a
 * hostile page pile up gigabytes of decoded results faster than they were applied. So at most
 * MAX_VIEWER_DECODES_IN_FLIGHT frames are being decoded or waiting decoded; the others wait still
 * compressed (small), and the next decode starts when the consumer takes one. The compressed backlog
 * is bounded too: past MAX_VIEWER_QUEUED_FRAMES or MAX_VIEWER_QUEUED_FRAME_BYTES every queued frame is
 * dropped and `onOverflow` runs in their place (the viewer asks for a fresh snapshot); the relay's
 * own per-agent backpressure covers the socket before that.
 */
import { MAX_VIEWER_DECODES_IN_FLIGHT, MAX_VIEWER_QUEUED_FRAME_BYTES, MAX_VIEWER_QUEUED_FRAMES } from '../protocol/frames.ts';
import { FrameError, type DecodedFrame } from './frames.ts';

export type FrameResult = { ok: true; frame: DecodedFrame } | { ok: false; error: FrameError };

export interface InboxLimits {
  inFlight: number;
  queuedFrames: number;
  queuedBytes: number;
}

export const DEFAULT_INBOX_LIMITS: InboxLimits = {
  inFlight: MAX_VIEWER_DECODES_IN_FLIGHT,
  queuedFrames: MAX_VIEWER_QUEUED_FRAMES,
  queuedBytes: MAX_VIEWER_QUEUED_FRAME_BYTES,
};

type Item =
  | { t: 'task'; run: () => void }
  | { t: 'frame'; data: ArrayBuffer; bytes: number; take: (r: FrameResult) => void; decoding?: Promise<FrameResult> }
  | { t: 'overflow'; dropped: number };

export class FrameInbox {
  private readonly items: Item[] = [];
  /** Decodes started whose result has not been taken yet (held or being made). */
  private inFlight = 0;
  private queuedFrames = 0;
  private queuedBytes = 0;
  private running = false;

  constructor(
    private readonly decode: (data: ArrayBuffer) => Promise<DecodedFrame>,
    /** Runs in order in place of the frames dropped because the backlog was over its bounds. */
    private readonly onOverflow: (dropped: number) => void,
    private readonly limits: InboxLimits = DEFAULT_INBOX_LIMITS,
  ) {}

  /** Frames waiting (compressed or decoded) and their wire bytes: for tests and support. */
  get backlog(): { frames: number; bytes: number; decoding: number } {
    return { frames: this.queuedFrames, bytes: this.queuedBytes, decoding: this.inFlight };
  }

  /** A control message, a close: runs after everything received before it. */
  pushTask(run: () => void): void {
    this.items.push({ t: 'task', run });
    this.pump();
  }

  /** A binary frame: `take` gets its decoded result (or error) after everything received before it. */
  pushFrame(data: ArrayBuffer, take: (r: FrameResult) => void): void {
    const bytes = data.byteLength;
    if (this.queuedFrames + 1 > this.limits.queuedFrames || this.queuedBytes + bytes > this.limits.queuedBytes) {
      this.dropQueuedFrames(1);
      return;
    }
    this.items.push({ t: 'frame', data, bytes, take });
    this.queuedFrames++;
    this.queuedBytes += bytes;
    this.startDecodes();
    this.pump();
  }

  /** Drops every queued frame (the newest arrival counted in `extra`) and puts one overflow marker in their place. */
  private dropQueuedFrames(extra: number): void {
    let dropped = extra;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const it = this.items[i];
      if (it.t !== 'frame') continue;
      this.items.splice(i, 1);
      dropped++;
      // A decode already started still holds its slot until it settles: memory is freed only then.
      if (it.decoding) void it.decoding.then(() => this.release());
    }
    this.queuedFrames = 0;
    this.queuedBytes = 0;
    this.items.push({ t: 'overflow', dropped });
    this.pump();
  }

  private release(): void {
    this.inFlight--;
    this.startDecodes();
  }

  /** Starts decoding the oldest not-yet-started frames, up to the in-flight bound. */
  private startDecodes(): void {
    for (const it of this.items) {
      if (this.inFlight >= this.limits.inFlight) return;
      if (it.t === 'frame' && !it.decoding) this.start(it);
    }
  }

  private start(it: Extract<Item, { t: 'frame' }>): Promise<FrameResult> {
    this.inFlight++;
    return (it.decoding = this.decode(it.data).then(
      (frame): FrameResult => ({ ok: true, frame }),
      (err): FrameResult => ({ ok: false, error: err instanceof FrameError ? err : new FrameError('decoder_failed', String(err)) }),
    ));
  }

  private pump(): void {
    if (this.running) return;
    this.running = true;
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      while (this.items.length > 0) {
        const it = this.items[0];
        if (it.t === 'task') {
          this.items.shift();
          this.safely(it.run);
          continue;
        }
        if (it.t === 'overflow') {
          this.items.shift();
          this.safely(() => this.onOverflow(it.dropped));
          continue;
        }
        // The head always decodes: slots can still be held by dropped frames' decodes finishing,
        // which bounds what is held at twice the in-flight limit at worst, briefly.
        const r = await (it.decoding ?? this.start(it));
        if (this.items[0] !== it) continue; // dropped while decoding (its slot is released by the drop)
        this.items.shift();
        this.queuedFrames--;
        this.queuedBytes -= it.bytes;
        this.safely(() => it.take(r));
        this.release(); // taken: the next frame may start decoding
      }
    } finally {
      this.running = false;
    }
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      console.error('cobrowse viewer: failed to apply a message', err);
    }
  }
}
