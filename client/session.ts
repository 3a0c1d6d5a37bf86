/**
 * One tab's co-browsing session: who is watching, what the visitor agreed to, and when capture
 * runs. Capture starts only when the relay asks for a snapshot, which it does only after the
 * visitor consented (or the account turned consent off); it stops when the last agent leaves.
 * The parts live beside it: consentMemory.ts, captureLifecycle.ts (capture + sender), pagePoll.ts,
 * toolDispatch.ts.
 */
import { KEY_REFUSED, parseVisitorMessage, UI_HIDDEN, type AgentInfo, type AgentLeftMsg, type RelayToVisitor, type VisitorEndReason, type VisitorToRelay } from '../protocol/control.ts';
import { Close } from '../protocol/errors.ts';
import { CaptureLifecycle } from './captureLifecycle.ts';
import { ConsentMemory } from './consentMemory.ts';
import { askConsent } from './consentPrompt.ts';
import { Connection } from './connection.ts';
import { E2eGate, KEY_CHANGED } from './e2e/gate.ts';
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
import { frameLimitOf, MAX_FRAME_BYTES } from './sender.ts';

/** At most one `tab-active` per this long: focus and visibility events can come in bursts. */
const TAB_ACTIVE_MIN_INTERVAL_MS = 1000;

export type Identity = { userId?: string; name?: string; email?: string };

export class Session {
  readonly #connection: Connection;
  /** The relay's frame limit (its welcome). */
  #maxFrameBytes = MAX_FRAME_BYTES;
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
  /** End-to-end encryption: who gets the content key, and whether frames are sealed (e2e/gate.ts). */
  readonly #e2e: E2eGate;

  constructor(
    relay: URL,
    key: string,
    options: EmbedOptions,
    events: Emitter,
  ) {
    this.#options = options;
    this.#events = events;
    const error = (err: unknown) => this.#events.emit('error', { message: String((err as Error)?.message ?? err) });
    this.#e2e = new E2eGate(options.e2e, options.agentKey, (m) => this.#send(m), error);
    this.#bar = new SharingBar(this.#ui, { stopSharing: () => this.#stopSharing(), revokeControl: () => this.#tools.revokeAll() });
    this.#barGuard = new UiGuard(() => this.#ui.element, () => this.#bar.element, () => this.#ui.repair(), (problem) => this.#safely(() => this.#uiHidden(problem)), true);
    // Every frame is checked against the bar first: a page that hid it gets nothing sent.
    this.#capture = new CaptureLifecycle({ mask: options.mask, block: options.block }, { socket: () => this.#connection.socket, maxFrameBytes: () => this.#maxFrameBytes, mayShare: () => this.#barGuard.ok(), error, seal: (kind, payload) => this.#e2e.seal(kind, payload) });
    this.#tools = new ToolDispatch(
      { watcherName: (id) => this.#watchers.get(id), send: (m) => this.#send(m), rules: () => ({ mask: options.mask, block: options.block, everPassword: this.#capture.everPassword, nodeById: (id) => this.#capture.nodeById(id) }), controlChanged: () => this.#renderBar(),
        unseal: (agentId, nodeId, sealed) => (sealed !== undefined || this.#e2e.active ? this.#e2e.openInput(agentId, nodeId, sealed) : undefined) },
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
        this.#maxFrameBytes = frameLimitOf(m.maxFrameBytes);
        this.#e2e.setAccountMode(m.e2e);
        this.#page.start();
        if (this.#wantCode) this.#send({ t: 'code-request' });
        // A tab opened in the foreground gets no focus event: say so once connected.
        if (document.visibilityState === 'visible' && document.hasFocus()) this.#tabActive(true);
        this.#events.emit('ready', { visitorId: m.visitorId });
        return;
      case 'consent-request':
        void this.#askConsent(m.agent);
        return;
      case 'agent-joined':
        this.#agentJoined(m.agent);
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

  async #askConsent(agent: AgentInfo): Promise<void> {
    const { id: agentId, name } = agent;
    // The key check comes first, also for an agent the visitor already allowed: a relay may swap keys on a rejoin.
    const admitted = await this.#e2e.admit(agent);
    if (!admitted.ok) return this.#keyRefused(agent, admitted.reason, true);
    // The memory covers the key whose code the visitor saw: another key asks again, with its own code.
    if (this.#consent.allows(agentId, agent.key ?? '')) {
      this.#send({ t: 'consent', agentId, allow: true });
      return;
    }
    const { allow, reason } = await askConsent(this.#prompts, agentId, name, admitted.code);
    if (allow) {
      this.#consent.remember(agentId, agent.key ?? '');
      this.#justAllowed.add(agentId);
    }
    if (reason) this.#reportHidden('the consent prompt, so nothing was shared');
    this.#send({ t: 'consent', agentId, allow, ...(reason ? { reason } : {}) });
    this.#events.emit('consent', { agent: { id: agentId, name }, allow });
  }

  #agentJoined(agent: AgentInfo): void {
    const { id: agentId, name } = agent;
    const key = agent.key ?? '';
    // Only the key the visitor agreed to (the one whose code the prompt showed) is admitted for this
    // agent. A second join with another key while the agent watches (a relay substituting its own) is
    // refused; a rejoin with another key (a new viewer page, or a relay that skipped the consent
    // request) is asked about again here, with the new key's code. A pinned customer key vouches for a
    // new key by its token instead (checked by the gate), but still one key at a time (the gate).
    const agreed = this.#consent.keyFor(agentId);
    const keyChanged = agreed !== undefined && agreed !== '' && agreed !== key && !this.#e2e.pinsKeys;
    if (keyChanged && this.#watchers.has(agentId)) return this.#keyChanged(agent);
    // Back within the consent memory (no prompt this time): the visitor is told all the same.
    const resumed = !this.#justAllowed.delete(agentId) && this.#consent.allows(agentId) && !this.#watchers.has(agentId);
    this.#watchers.set(agentId, name);
    if (keyChanged || (this.#options.requireConsent && !this.#consent.allows(agentId, key))) {
      // The account lets agents in without asking; this page asks anyway, before anything is captured.
      this.#awaitingLocal.add(agentId);
      this.#endCapture(); // the relay already subscribed this agent: send nothing until the visitor answers
      // The prompt shows the code of the key this join carries: that key is the one agreed to.
      void this.#e2e.admit(agent)
        .then((a) => askConsent(this.#prompts, agentId, name, a.ok ? a.code : undefined))
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
          this.#consent.remember(agentId, key);
          this.#e2e.joined(agent, (why) => this.#keyRefused(agent, why, false));
          this.#renderBar();
          this.#notices.show(`${name} is now viewing this page`);
          if (this.#awaitingLocal.size === 0) this.#startOrSnapshot();
        }));
      return;
    }
    this.#consent.remember(agentId, key);
    this.#e2e.joined(agent, (why) => (why === KEY_CHANGED ? this.#keyChanged(agent) : this.#keyRefused(agent, why, false)));
    this.#codePanel.hide(); // the code has done its job
    this.#renderBar();
    this.#notices.show(resumed ? `${name} is viewing this page again` : `${name} is now viewing this page`);
    this.#events.emit('sharing', { agents: [...this.#watchers.values()] });
  }

  #agentLeft(agentId: string, reason: AgentLeftMsg['reason']): void {
    const name = this.#watchers.get(agentId);
    this.#prompts.cancel(`consent:${agentId}`);
    this.#tools.drop(agentId);
    this.#e2e.left(agentId); // a new content key for those still watching
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
    this.#e2e.reset();
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
    this.#e2e.reset();
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

  /** This agent's viewer failed the end-to-end key check: it sees nothing, and the visitor is told why. */
  #keyRefused(agent: AgentInfo, why: string, asking: boolean): void {
    this.#events.emit('e2e-refused', { agent: { id: agent.id, name: agent.name }, reason: why });
    this.#notices.show(`Did not share with ${agent.name}: ${why}.`);
    if (asking) return this.#send({ t: 'consent', agentId: agent.id, allow: false, reason: KEY_REFUSED });
    this.#watchers.delete(agent.id);
    this.#send({ t: 'end', agentId: agent.id, reason: KEY_REFUSED });
    this.#renderBar();
  }

  /**
   * A join for an agent with a key other than the one the visitor agreed to: nothing is wrapped for
   * it, the visitor is told why, and the agent's session ends (the relay is not behaving; the key
   * already admitted gets no more content keys either). The agreement keeps its key: the agent may
   * come back with it, or ask again with a new one.
   */
  #keyChanged(agent: AgentInfo): void {
    this.#events.emit('e2e-refused', { agent: { id: agent.id, name: agent.name }, reason: KEY_CHANGED });
    this.#notices.show(`Did not share with ${agent.name}: ${KEY_CHANGED}.`);
    this.#prompts.cancel(`consent:${agent.id}`);
    this.#tools.drop(agent.id);
    this.#e2e.left(agent.id);
    this.#awaitingLocal.delete(agent.id);
    this.#justAllowed.delete(agent.id);
    this.#watchers.delete(agent.id);
    this.#send({ t: 'end', agentId: agent.id, reason: KEY_REFUSED });
    if (this.#watchers.size === 0) this.#endCapture();
    this.#renderBar();
    this.#events.emit('sharing', { agents: [...this.#watchers.values()] });
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
    this.#bar.render({ watchers, controllers: names(this.#tools.controllers), encrypted: this.#e2e.active });
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
