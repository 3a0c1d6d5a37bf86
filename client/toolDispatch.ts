/**
 * What agents do to the page: pointers and highlights for anyone watching; clicks, scrolls and
 * typing only for an agent the visitor granted control, and never in a sensitive field
 * (control.ts). Owns who holds control.
 */
import type { AgentToolForVisitor, VisitorToRelay } from '../protocol/control.ts';
import { applyClick, applyInput, applyScroll, type ControlRules } from './control.ts';
import type { Emitter } from './emitter.ts';
import type { Presence } from './ui/presence.ts';
import type { Prompts } from './ui/prompt.ts';

export interface ToolHost {
  /** The name of an agent watching this tab, or undefined: tools only from watchers. */
  watcherName(agentId: string): string | undefined;
  send(msg: VisitorToRelay): void;
  rules(): ControlRules;
  /** Who holds control changed: redraw the sharing bar. */
  controlChanged(): void;
}

export class ToolDispatch {
  /** Agents holding control. */
  readonly #granted = new Set<string>();

  readonly #host: ToolHost;
  readonly #allowControl: boolean;
  readonly #prompts: Prompts;
  readonly #presence: Presence;
  readonly #events: Emitter;

  constructor(host: ToolHost, allowControl: boolean, prompts: Prompts, presence: Presence, events: Emitter) {
    this.#host = host;
    this.#allowControl = allowControl;
    this.#prompts = prompts;
    this.#presence = presence;
    this.#events = events;
  }

  get controllers(): Iterable<string> {
    return this.#granted;
  }

  handle(m: AgentToolForVisitor): void {
    const name = this.#host.watcherName(m.agentId);
    if (name === undefined) return;
    switch (m.t) {
      case 'pointer':
        this.#presence.pointer(m.agentId, name, m.x, m.y);
        return;
      case 'highlight':
        this.#presence.highlight(m.x, m.y, m.w, m.h);
        return;
      case 'control-request':
        void this.#askControl(m.agentId, name);
        return;
      case 'scroll':
      case 'click':
      case 'input': {
        const refused = !this.#granted.has(m.agentId) ? 'not_granted'
          : m.t === 'scroll' ? (applyScroll(m.x, m.y), undefined)
          : m.t === 'click' ? applyClick(m.x, m.y, this.#host.rules())
          : applyInput(m.nodeId, m.value, this.#host.rules());
        if (refused) {
          this.#events.emit('control-refused', { action: m.t, reason: refused });
          // The agent is told too: a silent refusal left it typing into nothing.
          this.#host.send({ t: 'control-refused', agentId: m.agentId, action: m.t, reason: refused });
        }
      }
    }
  }

  /** The agent left: its control and its pointer go with it. */
  drop(agentId: string): void {
    this.#prompts.cancel(`control:${agentId}`);
    this.#granted.delete(agentId);
    this.#presence.remove(agentId);
  }

  /** Sharing ended or the socket closed: control must be asked for again. */
  clear(): void {
    this.#granted.clear();
    this.#presence.clear();
  }

  /** The visitor took control back from everyone. */
  revokeAll(): void {
    for (const agentId of this.#granted) this.#host.send({ t: 'control', agentId, allow: false });
    this.#granted.clear();
    this.#host.controlChanged();
    this.#events.emit('control', { allow: false });
  }

  async #askControl(agentId: string, name: string): Promise<void> {
    let allow = false;
    if (this.#allowControl) {
      ({ allow } = await this.#prompts.ask(
        `control:${agentId}`,
        `${name} asks to control this page`,
        'They will be able to click, scroll and type for you, never in password or card fields. You can take control back at any time.',
        'Allow control',
        'Deny',
      ));
    }
    if (this.#host.watcherName(agentId) === undefined) return;
    if (allow) this.#granted.add(agentId);
    else this.#granted.delete(agentId);
    this.#host.send({ t: 'control', agentId, allow });
    this.#host.controlChanged();
    this.#events.emit('control', { agent: { id: agentId, name }, allow });
  }
}
