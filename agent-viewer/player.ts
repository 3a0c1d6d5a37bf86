/**
 * The live view: rrweb's Replayer in live mode, fed the visitor's events in arrival order.
 *
 * - A full-snapshot frame (Meta + FullSnapshot + whatever followed) builds a new Replayer in a
 *   hidden host; when it has rebuilt the page it replaces the old one (no flash, no reload).
 * - Until a full snapshot has been applied, and after any gap (`resync`, a decoding error, a
 *   visitor who left), incremental frames are dropped: they would apply to a DOM we do not have.
 * - Every event passes the sanitiser first (sanitize/).
 * - The replay document gets the account's CSP (replayCsp.ts) before any event is applied.
 * - The Replayer's iframe must be sandboxed with exactly `allow-same-origin` (no scripts); the
 *   player checks it and refuses to play into anything else.
 * - Timing: the Replayer plays an event when `event.timestamp - baseline` has elapsed since
 *   `startLive`. The visitor's clock and the transit time of the first (large) frame would
 *   delay every later event by however late that frame was, so timestamps are shifted: an
 *   event that would be due in the future is made due now, and the shift is kept (it only
 *   grows), so relative timing and order are preserved and the view converges on the fastest
 *   path the frames take (liveClock.ts).
 * - Scaling: the visitor's viewport (Meta and viewport-resize events) is fitted into the
 *   stage, never enlarged, centred; tools use the same transform (`toViewport`).
 */
import { Replayer } from 'rrweb';
import { AssetStore } from './assets.ts';
import type { DecodedFrame } from './frames.ts';
import { CanvasPainter, canvasEvent, canvasPicture } from './canvasReplay.ts';
import { makeScrollsInstant } from './instantScroll.ts';
import { liveTimestamp, type LiveClock } from './liveClock.ts';
import { MASKED_BOX_RULE, markMaskedInEvent } from './maskedBoxes.ts';
import { installReplayCsp, replayCsp } from './replayCsp.ts';
import { EventSanitizer, EventType, parseOriginPatterns, type UrlPolicy } from './sanitize/index.ts';

type Json = Record<string, unknown>;

interface Live extends LiveClock {
  replayer: Replayer;
  host: HTMLElement;
  startPerf: number;
  shown: boolean;
  /** This view's canvas pictures (blob: URLs, revoked with the view). */
  painter: CanvasPainter;
}

export interface PlayerEvents {
  /** A full snapshot is on screen (first one, or a rebuild after a gap). */
  onRebuilt?: () => void;
  /** The visitor's viewport size changed (or is known for the first time). */
  onViewport?: (width: number, height: number) => void;
}

export class LivePlayer {
  private live?: Live;
  private retiring?: Live;
  private synced = false;
  private readonly sanitizer: EventSanitizer;
  /** Shared with the sanitiser; the page origins arrive with the relay's `ready`. */
  private readonly policy: UrlPolicy;
  /** The visitor's images and fonts for this session (asset frames), as blob: URLs. */
  private readonly assets: AssetStore;
  private resizeObserver: ResizeObserver;
  /** The visitor's viewport, in its CSS pixels. */
  viewport = { width: 0, height: 0 };
  /** Current scale and offset of the view inside the stage. */
  layout = { scale: 1, left: 0, top: 0 };
  /** Counters, exposed on the stage's dataset for tests and support. */
  readonly stats = { fullSnapshots: 0, framesDropped: 0, eventsApplied: 0, canvasPictures: 0, assets: 0 };

  constructor(
    /** The element the view is fitted into. */
    readonly stage: HTMLElement,
    /** Tools draw into this layer; it gets the same transform as the replayed page. */
    readonly toolLayer: HTMLElement,
    /** Base for relative URLs (the viewer page's URL, which the replay iframe inherits). */
    baseUrl: string,
    private readonly events: PlayerEvents = {},
  ) {
    // No page origin is known until the relay says: until then only data: and blob: are allowed.
    this.policy = { baseUrl, pageOrigins: [] };
    this.sanitizer = new EventSanitizer(this.policy);
    this.assets = new AssetStore(this.policy);
    this.resizeObserver = new ResizeObserver(() => this.fit());
    this.resizeObserver.observe(stage);
  }

  /** The account's page origins (from the relay's `ready`): what the replayed page may load from. Applies from the next rebuild. */
  setPageOrigins(origins: unknown): void {
    this.policy.pageOrigins = parseOriginPatterns(origins);
    this.gap(); // a view built under another policy is not extended
  }

  /** In sync with the visitor and showing their page. */
  get hasPicture(): boolean {
    return this.synced && !!this.live?.shown;
  }

  /** Showing a page, possibly stale (after a gap). */
  get showing(): boolean {
    return !!this.live?.shown;
  }

  /** Applies one decoded frame, in arrival order. */
  apply(frame: DecodedFrame): void {
    if (frame.asset) {
      // Kept even while waiting for a snapshot: assets come just before one, or after an image loaded late.
      if (this.assets.add(frame.asset)) {
        this.stats.assets = this.assets.count;
        const doc = this.live?.shown ? this.live.host.querySelector('iframe')?.contentDocument : undefined;
        if (doc) this.assets.patchImages(doc, frame.asset.url);
      }
      this.publishStats();
      return;
    }
    if (frame.full) {
      this.rebuild(frame.events);
      return;
    }
    if (!this.synced || !this.live) {
      this.stats.framesDropped++;
      this.publishStats();
      return;
    }
    for (const raw of frame.events) this.add(this.live, raw);
    this.publishStats();
  }

  /** Something was missed: drop incremental frames until the next full snapshot. */
  gap(): void {
    this.synced = false;
  }

  /** Removes the picture (session over, or a new visitor). */
  clear(): void {
    this.synced = false;
    for (const l of [this.live, this.retiring]) if (l) this.destroy(l);
    this.live = this.retiring = undefined;
    this.assets.clear();
    this.viewport = { width: 0, height: 0 };
    this.stage.dataset.viewport = '';
    this.toolLayer.hidden = true;
  }

  /**
   * The view on screen: the live one once rebuilt, else the one it replaces (still visible while a
   * new snapshot is built), so a click during a rebuild still finds its field. Mirror ids are the
   * recorder's and stay the same across snapshots of one page.
   */
  private get onScreen(): Live | undefined {
    if (this.live?.shown) return this.live;
    return this.retiring?.shown ? this.retiring : undefined;
  }

  /** The replayed page's iframe, when there is one on screen. */
  get iframe(): HTMLIFrameElement | undefined {
    return this.onScreen?.host.querySelector('iframe') ?? undefined;
  }

  /** Agent-page client coordinates → the visitor's viewport CSS pixels (null outside the page). */
  toViewport(clientX: number, clientY: number): { x: number; y: number } | null {
    if (!this.viewport.width) return null;
    const r = this.stage.getBoundingClientRect();
    const x = (clientX - r.left - this.layout.left) / this.layout.scale;
    const y = (clientY - r.top - this.layout.top) / this.layout.scale;
    if (x < 0 || y < 0 || x > this.viewport.width || y > this.viewport.height) return null;
    return { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 };
  }

  /** The replayed element under a viewport point, with its rrweb mirror id. */
  nodeAt(x: number, y: number): { el: Element; id: number } | undefined {
    const view = this.onScreen;
    const doc = this.iframe?.contentDocument;
    if (!doc || !view) return undefined;
    const el = doc.elementFromPoint(x, y);
    if (!el) return undefined;
    const id = view.replayer.getMirror().getId(el);
    return id > 0 ? { el, id } : undefined;
  }

  /** The replayed page's scroll position and extent. */
  scrollState(): { x: number; y: number; maxX: number; maxY: number } | undefined {
    const win = this.iframe?.contentWindow;
    const el = this.iframe?.contentDocument?.scrollingElement;
    if (!win || !el) return undefined;
    return { x: win.scrollX, y: win.scrollY, maxX: Math.max(0, el.scrollWidth - this.viewport.width), maxY: Math.max(0, el.scrollHeight - this.viewport.height) };
  }

  // ---------------------------------------------------------------- internals

  private rebuild(rawEvents: unknown[]): void {
    const events = rawEvents.map((e) => this.sanitizer.event(e)).filter((e): e is Json => e !== null);
    const meta = events.find((e) => e.type === EventType.Meta);
    const full = events.find((e) => e.type === EventType.FullSnapshot);
    if (!meta || !full) {
      // Not a usable snapshot: keep waiting for one.
      this.stats.framesDropped++;
      this.synced = false;
      this.publishStats();
      return;
    }
    const host = document.createElement('div');
    host.className = 'replay-host';
    host.style.visibility = 'hidden';
    this.stage.prepend(host);
    const painter = new CanvasPainter();
    const replayer = new Replayer([], {
      root: host,
      liveMode: true,
      mouseTail: false,
      UNSAFE_replayCanvas: false,
      pauseAnimation: false, // live: the visitor's animations run
      triggerFocus: false, // never move the agent's focus into the view
      showWarning: false,
      loadTimeout: 500,
      // A live view jumps with the visitor (instantScroll.ts); also against a page's own smooth scrolling.
      insertStyleRules: ['html, body { scroll-behavior: auto !important; }', MASKED_BOX_RULE],
      // Canvas pictures are drawn by the viewer, in play order (canvasReplay.ts).
      plugins: [{ handler: (event: unknown) => {
        const p = canvasPicture(event);
        if (!p) return;
        this.stats.canvasPictures++;
        this.publishStats();
        void painter.paint(p, replayer.getMirror().getNode(p.id));
      } }],
    });
    const iframe = host.querySelector('iframe');
    if (!iframe || !isScriptlessSandbox(iframe)) {
      // rrweb changed underneath us: refuse to render untrusted markup into a frame that may run script.
      replayer.destroy();
      host.remove();
      throw new Error('the replay iframe is not sandboxed without scripts; refusing to play');
    }
    makeScrollsInstant(replayer);
    try {
      installReplayCsp(iframe, replayCsp(this.policy.pageOrigins));
    } catch (err) {
      replayer.destroy();
      host.remove();
      throw err;
    }
    iframe.setAttribute('title', 'The visitor\'s page (live)');
    iframe.setAttribute('referrerpolicy', 'no-referrer');
    iframe.tabIndex = -1;
    const previous = this.live;
    if (this.retiring) this.destroy(this.retiring);
    this.retiring = previous;
    const live: Live = { replayer, host, startPerf: 0, baseline: Number(meta.timestamp), shift: 0, lastTs: Number(meta.timestamp), shown: false, painter };
    this.live = live;
    this.synced = true;
    replayer.on('resize', (dim) => {
      const { width, height } = dim as { width: number; height: number };
      if (this.live !== live) return;
      this.viewport = { width, height };
      this.stage.dataset.viewport = `${width}x${height}`;
      this.fit();
      this.events.onViewport?.(width, height);
    });
    replayer.on('fullsnapshot-rebuilded', () => {
      if (this.live !== live) return;
      if (!live.shown) {
        live.shown = true;
        host.style.visibility = '';
        if (this.retiring) this.destroy(this.retiring);
        this.retiring = undefined;
        this.toolLayer.hidden = false;
        this.stats.fullSnapshots++;
        this.publishStats();
        this.events.onRebuilt?.();
      }
    });
    replayer.startLive(live.baseline);
    live.startPerf = performance.now();
    for (const e of events) this.add(live, e, true);
    this.fit();
    this.publishStats();
  }

  private add(live: Live, raw: unknown, clean = false): void {
    const picture = canvasPicture(raw);
    // Canvas pictures bypass the sanitiser (which drops canvas events): they are checked and rebuilt by canvasReplay.ts.
    const e = picture ? canvasEvent(picture, Number((raw as Json).timestamp) || live.lastTs) : clean ? (raw as Json) : this.sanitizer.event(raw);
    if (!e) return;
    markMaskedInEvent(e);
    this.assets.rewriteEvent(e);
    if (e.type === EventType.FullSnapshot && !clean) {
      // A full snapshot inside an incremental frame: the recorder restarted (e.g. checkout). Rebuild.
      this.rebuild([{ type: EventType.Meta, timestamp: e.timestamp, data: { href: '', width: this.viewport.width || 1024, height: this.viewport.height || 768 } }, e]);
      return;
    }
    e.timestamp = liveTimestamp(live, Number(e.timestamp), performance.now() - live.startPerf);
    this.stats.eventsApplied++;
    live.replayer.addEvent(e as never);
  }

  private destroy(l: Live): void {
    try {
      l.replayer.destroy();
    } catch {
      /* already detached */
    }
    l.host.remove();
    l.painter.reset();
  }

  private fit(): void {
    const { width: vw, height: vh } = this.viewport;
    if (!vw || !vh) return;
    const W = this.stage.clientWidth;
    const H = this.stage.clientHeight;
    const scale = Math.min(1, W / vw, H / vh);
    const left = Math.max(0, Math.round((W - vw * scale) / 2));
    const top = Math.max(0, Math.round((H - vh * scale) / 2));
    this.layout = { scale, left, top };
    const transform = `translate(${left}px, ${top}px) scale(${scale})`;
    for (const el of [this.live?.host, this.retiring?.host, this.toolLayer]) {
      if (!el) continue;
      el.style.width = `${vw}px`;
      el.style.height = `${vh}px`;
      el.style.transform = transform;
    }
    this.stage.dataset.scale = String(Math.round(scale * 1000) / 1000);
  }

  private publishStats(): void {
    this.stage.dataset.fullSnapshots = String(this.stats.fullSnapshots);
    this.stage.dataset.framesDropped = String(this.stats.framesDropped);
    this.stage.dataset.canvasPictures = String(this.stats.canvasPictures);
    this.stage.dataset.assets = String(this.stats.assets);
  }
}

/** Exactly `sandbox="allow-same-origin"`: same-origin so the viewer can read it, no scripts, forms, popups or navigation. */
export function isScriptlessSandbox(iframe: HTMLIFrameElement): boolean {
  const tokens = Array.from(iframe.sandbox);
  return iframe.hasAttribute('sandbox') && tokens.length === 1 && tokens[0] === 'allow-same-origin';
}

