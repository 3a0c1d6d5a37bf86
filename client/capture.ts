/**
 * DOM capture with rrweb's recorder: started only once the visitor shares, stopped the moment they
 * stop. Emits full snapshots (Meta + FullSnapshot) and batches of incremental events, every one of
 * them scrubbed by `privacy.ts` first.
 */
import { record } from '@rrweb/record';
import type { AssetFrame } from '../protocol/assetFrame.ts';
import { EventType, IncrementalSource } from '../protocol/rrweb.ts';
import { AssetCollector } from './assets.ts';
import { CanvasSampler } from './canvas.ts';
import { repairAdoptedStyles, repairSerializedCss } from './cssRepair.ts';
import { BLOCK_CLASS, BLOCK_SELECTOR, recordOptions, scrubEvent } from './privacy.ts';

export type RrwebEvent = { type: number; data?: any; timestamp: number };
export interface CaptureSink {
  full(events: RrwebEvent[]): void;
  incremental(events: RrwebEvent[]): void;
  /** Images and fonts the snapshot that follows references (assets.ts). */
  assets(assets: AssetFrame[]): void;
}

const EVENT_FULL_SNAPSHOT = EventType.FullSnapshot;
const EVENT_META = EventType.Meta;
const EVENT_INCREMENTAL = EventType.IncrementalSnapshot;
const SOURCE_MUTATION = IncrementalSource.Mutation;
const SOURCE_ADOPTED_STYLE_SHEET = IncrementalSource.AdoptedStyleSheet;
/** Incremental events are batched for this long (a frame or so): fewer frames, no visible lag. */
export const BATCH_MS = 50;

export class Capture {
  private stopRecording?: () => void;
  private batch: RrwebEvent[] = [];
  private batchTimer?: ReturnType<typeof setTimeout>;
  private snapshot?: RrwebEvent[];
  private typeWatcher?: MutationObserver;
  /** Inputs that were ever `type=password`: they stay sensitive after a "show password" toggle. */
  readonly everPassword = new WeakSet<Element>();

  private readonly canvases: CanvasSampler;
  /** Inside a blocked (masked) element: never read (canvases) or sent (late images). */
  private readonly isMasked: (el: Element) => boolean;
  readonly assets = new AssetCollector();
  /** Set while a finished snapshot waits for its assets: incremental events are held, to stay after it. */
  private pendingSnapshot?: number;
  private snapshotSeq = 0;

  constructor(
    private readonly sink: CaptureSink,
    private readonly rules: { mask: string; block: string },
    private readonly onError: (err: unknown) => void,
  ) {
    const blocked = [BLOCK_SELECTOR, `.${BLOCK_CLASS}`, rules.block].filter(Boolean).join(', ');
    this.isMasked = (el) => {
      try {
        return !!el.closest(blocked);
      } catch {
        return true; // a bad customer selector: never read the element
      }
    };
    this.canvases = new CanvasSampler((e) => this.onEvent(e), (n) => record.mirror.getId(n), this.isMasked, onError);
  }

  /** True from the moment recording starts (rrweb emits the first snapshot before `record()` returns). */
  private active = false;

  get running(): boolean {
    return this.active;
  }

  /** Starts recording (which takes a full snapshot), or takes a fresh full snapshot if already running. */
  snapshotNow(): void {
    if (this.running) {
      record.takeFullSnapshot(true);
      return;
    }
    this.active = true;
    this.watchPasswordFields();
    this.stopRecording = record({
      ...recordOptions(this.rules.mask, this.rules.block),
      emit: (event) => this.onEvent(event as RrwebEvent),
      // Live pointer: rrweb's default reports moves every 500 ms, far too slow for co-browsing.
      sampling: { mousemove: 50, mousemoveCallback: BATCH_MS, scroll: 50 },
      errorHandler: (err: unknown) => {
        this.onError(err);
        return true; // handled: never let a recorder error reach the host page
      },
    }) as (() => void) | undefined;
    this.canvases.start();
    this.assets.watchLateImages((a) => {
      if (this.active) this.sink.assets([a]);
    }, this.isMasked);
  }

  /** The rrweb id of a live node, and back: used to apply an agent's typing to the right field. */
  nodeById(id: number): Node | null {
    return record.mirror.getNode(id);
  }

  stop(): void {
    this.active = false;
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.batch = [];
    this.snapshot = undefined;
    this.typeWatcher?.disconnect();
    this.typeWatcher = undefined;
    this.canvases.stop();
    this.assets.reset();
    this.pendingSnapshot = undefined;
    this.snapshotSeq++;
    const stop = this.stopRecording;
    this.stopRecording = undefined;
    stop?.();
  }

  /** Drops batched incremental events (the next full snapshot makes them moot). */
  dropPending(): void {
    this.batch = [];
  }

  private onEvent(event: RrwebEvent): void {
    if (!this.active) return;
    this.repairCss(event);
    scrubEvent(event, (id) => record.mirror.getNode(id));
    if (event.type === EVENT_META) {
      // A new full snapshot starts: events batched before it are superseded by it, and so are the
      // canvas pictures sent before it (the rebuilt view's canvases are blank). Pictures sampled from
      // here on are batched behind the snapshot and reach the new view, so they count as sent: forgetting
      // them later, when the snapshot leaves, sent every chart twice.
      this.batch = [];
      this.canvases.resend();
      this.snapshot = [event];
      mark('cobrowse:snapshot-start');
      return;
    }
    if (this.snapshot) {
      this.snapshot.push(event);
      if (event.type !== EVENT_FULL_SNAPSHOT) return;
      const events = this.snapshot;
      this.snapshot = undefined;
      mark('cobrowse:full-snapshot', 'cobrowse:snapshot-start');
      const seq = ++this.snapshotSeq;
      const send = (assets: AssetFrame[]) => {
        if (this.snapshotSeq !== seq || !this.active) return; // superseded by a newer snapshot, or stopped
        this.pendingSnapshot = undefined;
        this.sink.assets(assets);
        this.sink.full(events);
        this.flush();
      };
      let assets: AssetFrame[] | Promise<AssetFrame[]>;
      try {
        assets = this.assets.collect(event.data?.node);
      } catch (err) {
        this.onError(err);
        assets = [];
      }
      if (Array.isArray(assets)) {
        send(assets);
        return;
      }
      // Images and fonts are read from the cache first (assets.ts): incremental events wait behind the snapshot.
      this.pendingSnapshot = seq;
      mark('cobrowse:assets-start');
      assets.catch((err) => {
        this.onError(err);
        return [];
      }).then((a) => {
        mark('cobrowse:assets', 'cobrowse:assets-start'); // the snapshot's wait for its assets (cost benchmark)
        send(a);
      });
      return;
    }
    this.batch.push(event);
    this.batchTimer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  /** Declarations Chromium's CSSOM loses in serialisation (cssRepair.ts); never allowed to break capture. */
  private repairCss(event: RrwebEvent): void {
    const lookup = (id: number) => record.mirror.getNode(id);
    try {
      if (event.type === EVENT_FULL_SNAPSHOT) repairSerializedCss(event.data.node, lookup);
      else if (event.type === EVENT_INCREMENTAL && event.data?.source === SOURCE_MUTATION) for (const add of event.data.adds ?? []) repairSerializedCss(add.node, lookup);
      else if (event.type === EVENT_INCREMENTAL && event.data?.source === SOURCE_ADOPTED_STYLE_SHEET) repairAdoptedStyles(event.data, lookup(event.data.id));
    } catch (err) {
      this.onError(err);
    }
  }

  private flush(): void {
    this.batchTimer = undefined;
    if (this.pendingSnapshot !== undefined) return; // sent right after the snapshot
    if (this.batch.length === 0) return;
    const events = this.batch;
    this.batch = [];
    this.sink.incremental(events);
  }

  private watchPasswordFields(): void {
    for (const el of Array.from(document.querySelectorAll('input[type=password i]'))) this.everPassword.add(el);
    this.typeWatcher = new MutationObserver((records) => {
      for (const r of records) {
        if (r.oldValue?.toLowerCase() === 'password' || (r.target as Element).getAttribute?.('type')?.toLowerCase() === 'password') {
          this.everPassword.add(r.target as Element);
        }
      }
    });
    this.typeWatcher.observe(document, { subtree: true, attributes: true, attributeFilter: ['type'], attributeOldValue: true });
  }
}

/** User Timing marks (read by the cost benchmark); never allowed to throw in the host page. */
function mark(name: string, since?: string): void {
  try {
    if (since) performance.measure(name, since);
    else performance.mark(name);
  } catch {
    /* no User Timing here */
  }
}
