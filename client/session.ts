/**
 * One tab's co-browsing session: who is watching, what the visitor agreed to, and when capture
 * runs. Capture starts only when the relay asks for a snapshot, which it does only after the
 * visitor consented (or the account turned consent off); it stops when the last agent leaves.
 * The parts live beside it: consentMemory.ts, captureLifecycle.ts (capture + sender), pagePoll.ts,
 * toolDispatch.ts.
 */
import { parseVisitorMessage, UI_HIDDEN, type AgentLeftMsg, type RelayToVisitor, type VisitorEndReason, type VisitorToRelay } from '../protocol/control.ts';
import { Close } from '../protocol/errors.ts';
import { CaptureLifecycle } from './captureLifecycle.ts';
import { ConsentMemory } from './consentMemory.ts';
import { askConsent } from './consentPrompt.ts';
import { Connection } from './connection.ts';
import type { Emitter } from './emitter.ts';
import { matchesShortcut, type EmbedOptions } from './options.ts';
import { PagePoll } from './pagePoll.ts';
import { configureUnmask } from './privacy.ts';
import { KEYS, load, save } from './storage.ts';
import { ToolDispatch } from './toolDispatch.ts';
import { SharingBar } from './ui/bar.ts';
import { CodePanel } from './ui/codePanel.ts';
import { UiGuard, type UiProblem } from './ui/guard.ts';
import { UiHost } from './ui/host.ts';
import { Notices } from './ui/notice.ts';
import { Presence } from './ui/presence.ts';
import { Prompts } from './ui/prompt.ts';

/** At most one `tab-active` per this long: focus and visibility events can come in bursts. */
const TAB_ACTIVE_MIN_INTERVAL_MS = 1000;

export type Identity = { userId?: string; name?: string; email?: string };

export class Session {
  readonly #connection: Connection;
  readonly #capture: CaptureLifecycle;
  readonly #ui = new UiHost();
  readonly #prompts = new Prompts(this.#ui);
  readonly #presence = new Presence(this.#ui);
  readonly #codePanel = new CodePanel(this.#ui);
  readonly #bar: SharingBar;
  readonly #notices = new Notices(this.#ui);
  /** Sharing goes on only while the sharing bar is in front of the visitor (guard.ts). */
  readonly #barGuard: UiGuard;
  /** Agents watching this tab now (id → name). */
  readonly #watchers = new Map<string, string>();
  /** Agents the visitor agreed to share with; lapses at once when the visitor stops sharing. */
  readonly #consent = new ConsentMemory(
    { load: () => load('session', KEYS.consented), save: (v) => save('session', KEYS.consented, v) },
    (id) => this.#watchers.has(id),
  );
  readonly #tools: ToolDispatch;
  readonly #page: PagePoll;
  /** Agents still waiting for the visitor's local consent (`requireConsent` option). */
  readonly #awaitingLocal = new Set<string>();
  /** Agents the visitor has just allowed through the prompt (their join is new, not a resume). */
  readonly #justAllowed = new Set<string>();
  #identity?: Identity;
  #wantCode = false;
  #stopped = false;
  #connected = false;
  #lastTabActive = 0;
  readonly #options: EmbedOptions;
  readonly #events: Emitter;

  constructor(
    relay: URL,
    key: string,
    options: EmbedOptions,
    events: Emitter,
  ) {
    this.#options = options;
    this.#events = events;
    const error = (err: unknown) => this.#events.emit('error', { message: String((err as Error)?.message ?? err) });
    this.#bar = new SharingBar(this.#ui, { stopSharing: () => this.#stopSharing(), revokeControl: () => this.#tools.revokeAll() });
    this.#barGuard = new UiGuard(() => this.#ui.element, () => this.#bar.element, () => this.#ui.repair(), (problem) => this.#safely(() => this.#uiHidden(problem)), true);
    // Every frame is checked against the bar first: a page that hid it gets nothing sent.
    this.#capture = new CaptureLifecycle({ mask: options.mask, block: options.block }, { socket: () => this.#connection.socket, mayShare: () => this.#barGuard.ok(), error });
    this.#tools = new ToolDispatch(
      { watcherName: (id) => this.#watchers.get(id), send: (m) => this.#send(m), rules: () => ({ mask: options.mask, block: options.block, everPassword: this.#capture.everPassword, nodeById: (id) => this.#capture.nodeById(id) }), controlChanged: () => this.#renderBar() },
      options.allowControl, this.#prompts, this.#presence, events,
    );
    this.#page = new PagePoll(options.keepUrlQuery, { capturing: () => this.#capture.running, connected: () => this.#connected, send: (m) => this.#send(m), safely: (fn) => this.#safely(fn) });
    configureUnmask({ unmask: options.unmask, mask: options.mask, block: options.block, everPassword: this.#capture.everPassword });
    this.#connection = new Connection(relay, key, {
      open: () => this.#onOpen(),
      message: (m) => this.#safely(() => this.#onMessage(m)),
      closed: (code, final) => this.#onClosed(code, final),
      idsForgotten: () => undefined,
    });
    // The visitor switching to this tab: agents watching another of their tabs follow them here.
    window.addEventListener('focus', () => this.#safely(() => this.#tabActive()));
    document.addEventListener('visibilitychange', () => this.#safely(() => document.visibilityState === 'visible' && this.#tabActive()));
    if (options.shortcut) {
      window.addEventListener('keydown', (e) => this.#safely(() => matchesShortcut(options.shortcut, e) && this.showCode()), true);
    }
  }

  start(): void {
    this.#connection.start();
  }

  identify(who: Identity): void {
    this.#identity = who;
    this.#send({ t: 'identify', ...who });
  }

  showCode(): void {
    if (this.#stopped) return;
    this.#wantCode = true;
    if (this.#connected) this.#send({ t: 'code-request' });
  }

  /** `Cobrowse.stop()`: nothing more leaves the page, starting now. */
  stop(): void {
    if (this.#stopped) return;
    this.#endCapture();
    this.#send({ t: 'end' });
    this.#stopped = true;
    this.#consent.clear();
    this.#connection.stop();
    this.#page.stop();
    this.#prompts.cancelAll();
    this.#barGuard.stop();
    this.#ui.destroy();
    this.#events.emit('stopped', {});
  }

  /** `Cobrowse.forget()`: the relay erases this visitor's record and closes with 4004 (retried until it does). */
  forget(): void {
    this.#endCapture();
    if (this.#stopped) return;
    this.#connection.requestErasure();
  }

  // ------------------------------------------------------------------ relay messages

  #onOpen(): void {
    this.#connected = true;
    if (this.#identity) this.#send({ t: 'identify', ...this.#identity });
  }

  #onMessage(m: RelayToVisitor): void {
    switch (m.t) {
      case 'welcome':
        this.#page.start();
        if (this.#wantCode) this.#send({ t: 'code-request' });
        // A tab opened in the foreground gets no focus event: say so once connected.
        if (document.visibilityState === 'visible' && document.hasFocus()) this.#tabActive(true);
        this.#events.emit('ready', { visitorId: m.visitorId });
        return;
      case 'consent-request':
        void this.#askConsent(m.agent.id, m.agent.name);
        return;
      case 'agent-joined':
        this.#agentJoined(m.agent.id, m.agent.name);
        return;
      case 'snapshot-request':
        // Held while any watcher still waits for this page's own consent prompt: frames reach every watcher.
        if (this.#watchers.size > 0 && this.#awaitingLocal.size === 0) this.#startOrSnapshot();
        return;
      case 'agent-left':
        this.#agentLeft(m.agentId, m.reason);
        return;
      case 'code':
        this.#wantCode = false;
        this.#codePanel.show(m.code, new Date(m.expiresAt));
        this.#events.emit('code', { code: m.code, expiresAt: m.expiresAt });
        return;
      case 'error':
        this.#events.emit('error', { code: m.code, message: m.message });
        return;
      default:
        this.#tools.handle(m);
    }
  }

  async #askConsent(agentId: string, name: string): Promise<void> {
    if (this.#consent.allows(agentId)) {
      this.#send({ t: 'consent', agentId, allow: true });
      return;
    }
    const { allow, reason } = await askConsent(this.#prompts, agentId, name);
    if (allow) {
      this.#consent.remember(agentId);
      this.#justAllowed.add(agentId);
    }
    if (reason) this.#reportHidden('the consent prompt, so nothing was shared');
    this.#send({ t: 'consent', agentId, allow, ...(reason ? { reason } : {}) });
    this.#events.emit('consent', { agent: { id: agentId, name }, allow });
  }

  #agentJoined(agentId: string, name: string): void {
    // Back within the consent memory (no prompt this time): the visitor is told all the same.
    const resumed = !this.#justAllowed.delete(agentId) && this.#consent.allows(agentId) && !this.#watchers.has(agentId);
    this.#watchers.set(agentId, name);
    if (this.#options.requireConsent && !this.#consent.allows(agentId)) {
      // The account lets agents in without asking; this page asks anyway, before anything is captured.
      this.#awaitingLocal.add(agentId);
      this.#endCapture(); // the relay already subscribed this agent: send nothing until the visitor answers
      void askConsent(this.#prompts, agentId, name)
        .then(({ allow, reason }) => this.#safely(() => {
          this.#awaitingLocal.delete(agentId);
          this.#events.emit('consent', { agent: { id: agentId, name }, allow });
          if (reason) this.#reportHidden('the consent prompt, so nothing was shared');
          if (!allow || !this.#watchers.has(agentId)) {
            this.#watchers.delete(agentId);
            this.#send({ t: 'end', agentId, ...(reason ? { reason } : {}) });
            this.#renderBar();
            if (this.#watchers.size > 0 && this.#awaitingLocal.size === 0) this.#startOrSnapshot();
            return;
          }
          this.#consent.remember(agentId);
          this.#renderBar();
          this.#notices.show(`${name} is now viewing this page`);
          if (this.#awaitingLocal.size === 0) this.#startOrSnapshot();
        }));
      return;
    }
    this.#consent.remember(agentId);
    this.#codePanel.hide(); // the code has done its job
    this.#renderBar();
    this.#notices.show(resumed ? `${name} is viewing this page again` : `${name} is now viewing this page`);
    this.#events.emit('sharing', { agents: [...this.#watchers.values()] });
  }

  #agentLeft(agentId: string, reason: AgentLeftMsg['reason']): void {
    const name = this.#watchers.get(agentId);
    this.#prompts.cancel(`consent:${agentId}`);
    this.#tools.drop(agentId);
    this.#awaitingLocal.delete(agentId);
    this.#watchers.delete(agentId);
    // The agent ended the session: coming back needs the visitor's yes again.
    if (reason === 'ended') this.#consent.forget(agentId);
    else this.#consent.refresh(agentId);
    if (this.#watchers.size === 0) this.#endCapture();
    this.#renderBar();
    if (name !== undefined && reason !== 'moved') this.#notices.show(reason === 'ended' ? `${name} ended the session` : `${name} stopped viewing (connection lost)`);
    this.#events.emit('sharing', { agents: [...this.#watchers.values()] });
  }

  #onClosed(code: number, final: boolean): void {
    this.#connected = false;
    // Whatever the relay knew is gone with the socket: agents must rejoin, control be asked again.
    this.#endCapture();
    for (const id of this.#watchers.keys()) this.#consent.refresh(id);
    this.#watchers.clear();
    this.#tools.clear();
    this.#awaitingLocal.clear();
    this.#prompts.cancelAll();
    this.#renderBar();
    this.#page.stop();
    if (final) this.#stopped = true;
    this.#events.emit('disconnected', { code, final });
  }

  // ------------------------------------------------------------------ visitor actions

  #stopSharing(reason?: VisitorEndReason): void {
    this.#endCapture();
    this.#send({ t: 'end', ...(reason ? { reason } : {}) });
    this.#watchers.clear();
    this.#tools.clear();
    this.#consent.clear();
    this.#renderBar();
    this.#events.emit('sharing', { agents: [] });
  }

  /** The page hid, covered or removed the sharing bar: nothing more is shared, and everyone is told why. */
  #uiHidden(problem: UiProblem): void {
    if (this.#watchers.size === 0) return;
    this.#stopSharing(UI_HIDDEN);
    this.#reportHidden(`the sharing bar (${problem}), so sharing stopped`);
  }

  #reportHidden(what: string): void {
    this.#events.emit('error', { code: UI_HIDDEN, message: `this page hid ${what}` });
    this.#notices.show('Screen sharing stopped: this page hid the sharing controls.');
  }

  // ------------------------------------------------------------------ capture

  #startOrSnapshot(): void {
    if (this.#stopped) return;
    if (!this.#barGuard.ok()) return; // the bar is not in front of the visitor: uiHidden() stopped sharing
    // Just started: the page again, now with the title, which is page content and waited for consent.
    if (this.#capture.startOrSnapshot()) this.#page.resend();
  }

  #endCapture(): void {
    this.#capture.end();
  }

  // ------------------------------------------------------------------ helpers

  /** Tells the relay the visitor is on this tab (no page content: the message has no fields). */
  #tabActive(force = false): void {
    if (!this.#connected || this.#stopped) return;
    const now = Date.now();
    if (!force && now - this.#lastTabActive < TAB_ACTIVE_MIN_INTERVAL_MS) return;
    this.#lastTabActive = now;
    this.#send({ t: 'tab-active' });
  }

  #renderBar(): void {
    const names = (ids: Iterable<string>) => [...ids].filter((id) => !this.#awaitingLocal.has(id)).map((id) => this.#watchers.get(id) ?? 'Agent');
    const watchers = names(this.#watchers.keys());
    this.#bar.render({ watchers, controllers: names(this.#tools.controllers) });
    if (watchers.length > 0) this.#barGuard.start();
    else this.#barGuard.stop();
  }

  /**
   * Validates with the relay's own schema first: a bad value from the page (say an invalid email
   * passed to identify()) is reported and dropped, never sent to get the socket closed with 4000.
   */
  #send(msg: VisitorToRelay): void {
    if (this.#stopped) return;
    const text = JSON.stringify(msg);
    const checked = parseVisitorMessage(text);
    if (!checked.ok) {
      this.#events.emit('error', { code: Close.badMessage.reason, message: checked.message });
      return;
    }
    this.#connection.sendText(text);
  }

  /** Runs page-facing work so that a bug of ours never surfaces as an error in the host page. */
  #safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.#events.emit('error', { message: String((err as Error)?.message ?? err) });
    }
  }
}
