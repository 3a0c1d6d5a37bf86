/**
 * One tab's co-browsing session: who is watching, what the visitor agreed to, and when capture
 * runs. Capture starts only when the relay asks for a snapshot, which it does only after the
 * visitor consented (or the account turned consent off); it stops when the last agent leaves.
 */
import { KEY_REFUSED, parseVisitorMessage, UI_HIDDEN, type AgentInfo, type AgentLeftMsg, type AgentToolForVisitor, type RelayToVisitor, type VisitorEndReason, type VisitorToRelay } from '../protocol/control.ts';
import { Capture } from './capture.ts';
import { Connection } from './connection.ts';
import { applyClick, applyInput, applyScroll, type ControlRules } from './control.ts';
import { E2eGate } from './e2e/gate.ts';
import type { Emitter } from './emitter.ts';
import { matchesShortcut, type EmbedOptions } from './options.ts';
import { configureUnmask } from './privacy.ts';
import { FrameSender } from './sender.ts';
import { KEYS, load, save } from './storage.ts';
import { SharingBar } from './ui/bar.ts';
import { CodePanel } from './ui/codePanel.ts';
import { UiGuard, type UiProblem } from './ui/guard.ts';
import { UiHost } from './ui/host.ts';
import { Notices } from './ui/notice.ts';
import { Presence } from './ui/presence.ts';
import { Prompts } from './ui/prompt.ts';

const PAGE_POLL_MS = 1000;
/** How long an agreement outlives the agent's watching (reconnects, relay restarts, reloads). */
const CONSENT_MEMORY_MS = 5 * 60_000;
/** While the outbound queue is over its limit, how often to check whether it drained. */
const DRAIN_POLL_MS = 250;
/** At most one `tab-active` per this long: focus and visibility events can come in bursts. */
const TAB_ACTIVE_MIN_INTERVAL_MS = 1000;

export type Identity = { userId?: string; name?: string; email?: string };

export class Session {
  private readonly connection: Connection;
  private readonly capture: Capture;
  private readonly sender: FrameSender;
  private readonly ui = new UiHost();
  private readonly prompts = new Prompts(this.ui);
  private readonly presence = new Presence(this.ui);
  private readonly codePanel = new CodePanel(this.ui);
  private readonly bar: SharingBar;
  private readonly notices = new Notices(this.ui);
  /** Sharing goes on only while the sharing bar is in front of the visitor (guard.ts). */
  private readonly barGuard: UiGuard;
  /** Agents watching this tab now (id → name). */
  private readonly watchers = new Map<string, string>();
  /** Agents holding control. */
  private readonly control = new Set<string>();
  /**
   * Agents the visitor agreed to share with in this tab, with the time the agreement lapses. Kept in
   * sessionStorage so a reload, a navigation or a relay restart does not ask again; it lapses
   * CONSENT_MEMORY_MS after the agent stops watching, and at once when the visitor stops sharing.
   */
  private readonly consented = new Map<string, number>();
  /** Agents still waiting for the visitor's local consent (`requireConsent` option). */
  private readonly awaitingLocal = new Set<string>();
  /** Agents the visitor has just allowed through the prompt (their join is new, not a resume). */
  private readonly justAllowed = new Set<string>();
  private identity?: Identity;
  private wantCode = false;
  private lastPage = '';
  private pageTimer?: ReturnType<typeof setInterval>;
  private drainTimer?: ReturnType<typeof setInterval>;
  private stopped = false;
  private connected = false;
  private lastTabActive = 0;
  private readonly e2e: E2eGate;

  constructor(
    relay: URL,
    key: string,
    private readonly options: EmbedOptions,
    private readonly events: Emitter,
  ) {
    try {
      for (const [id, until] of Object.entries(JSON.parse(load('session', KEYS.consented) ?? '{}'))) if (typeof until === 'number') this.consented.set(id, until);
    } catch {
      /* unreadable: ask again */
    }
    this.bar = new SharingBar(this.ui, { stopSharing: () => this.stopSharing(), revokeControl: () => this.revokeControl() });
    this.barGuard = new UiGuard(() => this.ui.element, () => this.bar.element, () => this.ui.repair(), (problem) => this.safely(() => this.uiHidden(problem)), true);
    this.e2e = new E2eGate(options.e2e, options.agentKey, (m) => this.send(m), (err) => this.events.emit('error', { code: 'e2e', message: String((err as Error)?.message ?? err) }));
    this.sender = new FrameSender({
      seal: (kind, payload) => this.e2e.seal(kind, payload),
      socket: () => this.connection.socket,
      overflowed: () => this.onOverflow(),
      error: (err) => this.events.emit('error', { message: String((err as Error)?.message ?? err) }),
    });
    this.capture = new Capture(
      // Every frame is checked against the bar first: a page that hid it gets nothing sent. Not
      // cached: a stylesheet that finished loading, CSSOM edits and popover or dialog calls change
      // nothing a MutationObserver sees, so a cached pass would let frames out after a hide.
      { full: (e) => this.barGuard.ok() && this.sender.full(e), incremental: (e) => this.barGuard.ok() && this.sender.incremental(e), assets: (a) => this.barGuard.ok() && this.sender.assets(a) },
      { mask: options.mask, block: options.block },
      (err) => this.events.emit('error', { message: String((err as Error)?.message ?? err) }),
    );
    configureUnmask({ unmask: options.unmask, mask: options.mask, block: options.block, everPassword: this.capture.everPassword });
    this.connection = new Connection(relay, key, {
      open: () => this.onOpen(),
      message: (m) => this.safely(() => this.onMessage(m)),
      closed: (code, final) => this.onClosed(code, final),
      idsForgotten: () => undefined,
    });
    // The visitor switching to this tab: agents watching another of their tabs follow them here.
    window.addEventListener('focus', () => this.safely(() => this.tabActive()));
    document.addEventListener('visibilitychange', () => this.safely(() => document.visibilityState === 'visible' && this.tabActive()));
    if (options.shortcut) {
      window.addEventListener('keydown', (e) => this.safely(() => matchesShortcut(options.shortcut, e) && this.showCode()), true);
    }
  }

  start(): void {
    this.connection.start();
  }

  identify(who: Identity): void {
    this.identity = who;
    this.send({ t: 'identify', ...who });
  }

  showCode(): void {
    if (this.stopped) return;
    this.wantCode = true;
    if (this.connected) this.send({ t: 'code-request' });
  }

  /** `Cobrowse.stop()`: nothing more leaves the page, starting now. */
  stop(): void {
    if (this.stopped) return;
    this.endCapture();
    this.send({ t: 'end' });
    this.stopped = true;
    this.consented.clear();
    this.persistConsent();
    this.connection.stop();
    clearInterval(this.pageTimer);
    this.prompts.cancelAll();
    this.barGuard.stop();
    this.ui.destroy();
    this.events.emit('stopped', {});
  }

  /** `Cobrowse.forget()`: the relay erases this visitor's record and closes with 4004 (retried until it does). */
  forget(): void {
    this.endCapture();
    if (this.stopped) return;
    this.connection.requestErasure();
  }

  // ------------------------------------------------------------------ relay messages

  private onOpen(): void {
    this.connected = true;
    if (this.identity) this.send({ t: 'identify', ...this.identity });
  }

  private onMessage(m: RelayToVisitor): void {
    switch (m.t) {
      case 'welcome':
        this.e2e.setAccountMode(m.e2e);
        this.lastPage = '';
        this.reportPage();
        clearInterval(this.pageTimer);
        this.pageTimer = setInterval(() => this.safely(() => this.reportPage()), PAGE_POLL_MS);
        if (this.wantCode) this.send({ t: 'code-request' });
        // A tab opened in the foreground gets no focus event: say so once connected.
        if (document.visibilityState === 'visible' && document.hasFocus()) this.tabActive(true);
        this.events.emit('ready', { visitorId: m.visitorId });
        return;
      case 'consent-request':
        void this.askConsent(m.agent);
        return;
      case 'agent-joined':
        this.agentJoined(m.agent);
        return;
      case 'snapshot-request':
        // Held while any watcher still waits for this page's own consent prompt: frames reach every watcher.
        if (this.watchers.size > 0 && this.awaitingLocal.size === 0) this.startOrSnapshot();
        return;
      case 'agent-left':
        this.agentLeft(m.agentId, m.reason);
        return;
      case 'code':
        this.wantCode = false;
        this.codePanel.show(m.code, new Date(m.expiresAt));
        this.events.emit('code', { code: m.code, expiresAt: m.expiresAt });
        return;
      case 'error':
        this.events.emit('error', { code: m.code, message: m.message });
        return;
      default:
        this.onTool(m);
    }
  }

  private async askConsent(agent: AgentInfo): Promise<void> {
    const { id: agentId, name } = agent;
    const admitted = await this.e2e.admit(agent);
    if (!admitted.ok) return this.keyRefused(agent, admitted.reason, true);
    if (this.isConsented(agentId)) {
      this.send({ t: 'consent', agentId, allow: true });
      return;
    }
    const { allow, reason } = await this.prompts.ask(
      `consent:${agentId}`,
      `${name} wants to see this page`,
      'They will see this page as you do, with passwords and form entries hidden. You can stop sharing at any time.' + e2eNote(admitted.code),
    );
    if (allow) {
      this.remember(agentId);
      this.justAllowed.add(agentId);
    }
    if (reason) this.reportHidden('the consent prompt, so nothing was shared');
    this.send({ t: 'consent', agentId, allow, ...(reason ? { reason } : {}) });
    this.events.emit('consent', { agent: { id: agentId, name }, allow });
  }

  private agentJoined(agent: AgentInfo): void {
    const { id: agentId, name } = agent;
    // Back within the consent memory (no prompt this time): the visitor is told all the same.
    const resumed = !this.justAllowed.delete(agentId) && this.isConsented(agentId) && !this.watchers.has(agentId);
    this.watchers.set(agentId, name);
    if (this.options.requireConsent && !this.isConsented(agentId)) {
      // The account lets agents in without asking; this page asks anyway, before anything is captured.
      this.awaitingLocal.add(agentId);
      this.endCapture(); // the relay already subscribed this agent: send nothing until the visitor answers
      void this.prompts
        .ask(`consent:${agentId}`, `${name} wants to see this page`, 'They will see this page as you do, with passwords and form entries hidden. You can stop sharing at any time.')
        .then(({ allow, reason }) => this.safely(() => {
          this.awaitingLocal.delete(agentId);
          this.events.emit('consent', { agent: { id: agentId, name }, allow });
          if (reason) this.reportHidden('the consent prompt, so nothing was shared');
          if (!allow || !this.watchers.has(agentId)) {
            this.watchers.delete(agentId);
            this.send({ t: 'end', agentId, ...(reason ? { reason } : {}) });
            this.renderBar();
            if (this.watchers.size > 0 && this.awaitingLocal.size === 0) this.startOrSnapshot();
            return;
          }
          this.remember(agentId);
          this.e2e.joined(agent, (why) => this.keyRefused(agent, why, false));
          this.renderBar();
          this.notices.show(`${name} is now viewing this page`);
          if (this.awaitingLocal.size === 0) this.startOrSnapshot();
        }));
      return;
    }
    this.remember(agentId);
    this.e2e.joined(agent, (why) => this.keyRefused(agent, why, false));
    this.codePanel.hide(); // the code has done its job
    this.renderBar();
    this.notices.show(resumed ? `${name} is viewing this page again` : `${name} is now viewing this page`);
    this.events.emit('sharing', { agents: [...this.watchers.values()] });
  }

  private agentLeft(agentId: string, reason: AgentLeftMsg['reason']): void {
    const name = this.watchers.get(agentId);
    this.prompts.cancel(`consent:${agentId}`);
    this.prompts.cancel(`control:${agentId}`);
    this.awaitingLocal.delete(agentId);
    this.watchers.delete(agentId);
    this.control.delete(agentId);
    this.presence.remove(agentId);
    this.e2e.left(agentId);
    if (reason === 'ended') {
      // The agent ended the session: coming back needs the visitor's yes again.
      this.consented.delete(agentId);
      this.persistConsent();
    } else if (this.consented.has(agentId)) this.remember(agentId);
    if (this.watchers.size === 0) this.endCapture();
    this.renderBar();
    if (name !== undefined && reason !== 'moved') this.notices.show(reason === 'ended' ? `${name} ended the session` : `${name} stopped viewing (connection lost)`);
    this.events.emit('sharing', { agents: [...this.watchers.values()] });
  }

  private onTool(m: AgentToolForVisitor): void {
    const name = this.watchers.get(m.agentId);
    if (name === undefined) return; // tools only from an agent watching this tab
    switch (m.t) {
      case 'pointer':
        this.presence.pointer(m.agentId, name, m.x, m.y);
        return;
      case 'highlight':
        this.presence.highlight(m.x, m.y, m.w, m.h);
        return;
      case 'control-request':
        void this.askControl(m.agentId, name);
        return;
      case 'scroll':
      case 'click':
      case 'input': {
        if (!this.control.has(m.agentId)) {
          this.events.emit('control-refused', { action: m.t, reason: 'not_granted' });
          this.send({ t: 'control-refused', agentId: m.agentId, action: m.t, reason: 'not_granted' });
          return;
        }
        if (m.t === 'input' && (m.sealed !== undefined || this.e2e.active)) return void this.sealedInput(m.agentId, m.nodeId, m.sealed);
        const refused = m.t === 'scroll' ? (applyScroll(m.x, m.y), undefined) : m.t === 'click' ? applyClick(m.x, m.y, this.rules()) : applyInput(m.nodeId, m.value, this.rules());
        if (refused) {
          this.events.emit('control-refused', { action: m.t, reason: refused });
          // The agent is told too: a silent refusal left it typing into nothing.
          this.send({ t: 'control-refused', agentId: m.agentId, action: m.t, reason: refused });
        }
      }
    }
  }

  /** Typing sent end-to-end encrypted by the agent's viewer; a plain one is refused while the session is encrypted. */
  private async sealedInput(agentId: string, nodeId: number, sealed: string | undefined): Promise<void> {
    let value: string;
    try {
      if (sealed === undefined) throw new Error('typing sent in the clear was refused (this session is end-to-end encrypted)');
      value = await this.e2e.openInput(agentId, nodeId, sealed);
    } catch (err) {
      this.events.emit('control-refused', { action: 'input', reason: 'e2e', message: String((err as Error).message) });
      return;
    }
    this.safely(() => {
      const refused = applyInput(nodeId, value, this.rules());
      if (!refused) return;
      this.events.emit('control-refused', { action: 'input', reason: refused });
      this.send({ t: 'control-refused', agentId, action: 'input', reason: refused });
    });
  }

  /** This agent's viewer failed the end-to-end key check: it sees nothing, and the visitor is told why. */
  private keyRefused(agent: AgentInfo, why: string, asking: boolean): void {
    this.events.emit('e2e-refused', { agent: { id: agent.id, name: agent.name }, reason: why });
    this.notices.show(`Did not share with ${agent.name}: ${why}.`);
    if (asking) this.send({ t: 'consent', agentId: agent.id, allow: false, reason: KEY_REFUSED });
    else {
      this.watchers.delete(agent.id);
      this.send({ t: 'end', agentId: agent.id, reason: KEY_REFUSED });
      this.renderBar();
    }
  }

  private async askControl(agentId: string, name: string): Promise<void> {
    let allow = false;
    if (this.options.allowControl) {
      ({ allow } = await this.prompts.ask(
        `control:${agentId}`,
        `${name} asks to control this page`,
        'They will be able to click, scroll and type for you, never in password or card fields. You can take control back at any time.',
        'Allow control',
        'Deny',
      ));
    }
    if (!this.watchers.has(agentId)) return;
    if (allow) this.control.add(agentId);
    else this.control.delete(agentId);
    this.send({ t: 'control', agentId, allow });
    this.renderBar();
    this.events.emit('control', { agent: { id: agentId, name }, allow });
  }

  private onClosed(code: number, final: boolean): void {
    this.connected = false;
    // Whatever the relay knew is gone with the socket: agents must rejoin, control be asked again.
    this.endCapture();
    this.e2e.reset();
    for (const id of this.watchers.keys()) if (this.consented.has(id)) this.remember(id);
    this.watchers.clear();
    this.control.clear();
    this.awaitingLocal.clear();
    this.presence.clear();
    this.prompts.cancelAll();
    this.renderBar();
    clearInterval(this.pageTimer);
    if (final) this.stopped = true;
    this.events.emit('disconnected', { code, final });
  }

  // ------------------------------------------------------------------ visitor actions

  private stopSharing(reason?: VisitorEndReason): void {
    this.endCapture();
    this.send({ t: 'end', ...(reason ? { reason } : {}) });
    this.e2e.reset();
    this.watchers.clear();
    this.control.clear();
    this.consented.clear();
    this.persistConsent();
    this.presence.clear();
    this.renderBar();
    this.events.emit('sharing', { agents: [] });
  }

  /** The page hid, covered or removed the sharing bar: nothing more is shared, and everyone is told why. */
  private uiHidden(problem: UiProblem): void {
    if (this.watchers.size === 0) return;
    this.stopSharing(UI_HIDDEN);
    this.reportHidden(`the sharing bar (${problem}), so sharing stopped`);
  }

  private reportHidden(what: string): void {
    this.events.emit('error', { code: UI_HIDDEN, message: `this page hid ${what}` });
    this.notices.show('Screen sharing stopped: this page hid the sharing controls.');
  }

  private revokeControl(): void {
    for (const agentId of this.control) this.send({ t: 'control', agentId, allow: false });
    this.control.clear();
    this.renderBar();
    this.events.emit('control', { allow: false });
  }

  // ------------------------------------------------------------------ capture

  private startOrSnapshot(): void {
    if (this.stopped) return;
    if (!this.barGuard.ok()) return; // the bar is not in front of the visitor: uiHidden() stopped sharing
    const wasRunning = this.capture.running;
    this.capture.snapshotNow();
    if (!wasRunning) {
      this.lastPage = '';
      this.reportPage(); // now with the title, which is page content and waited for consent
    }
  }

  private endCapture(): void {
    this.capture.stop();
    this.sender.reset();
    clearInterval(this.drainTimer);
    this.drainTimer = undefined;
  }

  /** Too much queued: incremental batches were dropped; take a fresh snapshot once the socket drains. */
  private onOverflow(): void {
    this.capture.dropPending();
    if (this.drainTimer) return;
    this.drainTimer = setInterval(() => this.safely(() => {
      if (!this.capture.running) return this.endCapture();
      if (this.sender.backlogBytes > 0 || !this.connection.socket) return;
      clearInterval(this.drainTimer);
      this.drainTimer = undefined;
      this.capture.snapshotNow();
    }), DRAIN_POLL_MS);
  }

  // ------------------------------------------------------------------ helpers

  /** Tells the relay the visitor is on this tab (no page content: the message has no fields). */
  private tabActive(force = false): void {
    if (!this.connected || this.stopped) return;
    const now = Date.now();
    if (!force && now - this.lastTabActive < TAB_ACTIVE_MIN_INTERVAL_MS) return;
    this.lastTabActive = now;
    this.send({ t: 'tab-active' });
  }

  private rules(): ControlRules {
    return { mask: this.options.mask, block: this.options.block, everPassword: this.capture.everPassword, nodeById: (id) => this.capture.nodeById(id) };
  }

  private reportPage(): void {
    const url = this.options.keepUrlQuery ? location.href : location.origin + location.pathname;
    const title = this.capture.running ? document.title : '';
    const key = `${url}\n${title}`;
    if (key === this.lastPage || !this.connected) return;
    this.lastPage = key;
    this.send({ t: 'page', url: url.slice(0, 2048), title: title.slice(0, 512) });
  }

  private renderBar(): void {
    const names = (ids: Iterable<string>) => [...ids].filter((id) => !this.awaitingLocal.has(id)).map((id) => this.watchers.get(id) ?? 'Agent');
    const watchers = names(this.watchers.keys());
    this.bar.render({ watchers, controllers: names(this.control), encrypted: this.e2e.active });
    if (watchers.length > 0) this.barGuard.start();
    else this.barGuard.stop();
  }

  private isConsented(agentId: string): boolean {
    return (this.consented.get(agentId) ?? 0) > Date.now() || (this.watchers.has(agentId) && this.consented.has(agentId));
  }

  /** (Re)starts the agreement's lapse clock for this agent. */
  private remember(agentId: string): void {
    this.consented.set(agentId, Date.now() + CONSENT_MEMORY_MS);
    this.persistConsent();
  }

  private persistConsent(): void {
    for (const [id, until] of this.consented) if (until <= Date.now() && !this.watchers.has(id)) this.consented.delete(id);
    save('session', KEYS.consented, JSON.stringify(Object.fromEntries(this.consented)));
  }

  /**
   * Validates with the relay's own schema first: a bad value from the page (say an invalid email
   * passed to identify()) is reported and dropped, never sent to get the socket closed with 4000.
   */
  private send(msg: VisitorToRelay): void {
    if (this.stopped) return;
    const text = JSON.stringify(msg);
    const checked = parseVisitorMessage(text);
    if (!checked.ok) {
      this.events.emit('error', { code: 'bad_message', message: checked.message });
      return;
    }
    this.connection.sendText(text);
  }

  /** Runs page-facing work so that a bug of ours never surfaces as an error in the host page. */
  private safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.events.emit('error', { message: String((err as Error)?.message ?? err) });
    }
  }
}

function e2eNote(code: string | undefined): string {
  return code ? ` End-to-end encrypted: the relay cannot see this page. Verification code: ${code}. If the agent reads out a different code, deny.` : '';
}
