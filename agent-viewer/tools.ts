/**
 * Agent tools over the live view. All coordinates go out in the visitor's viewport CSS pixels
 * (the player maps from the scaled view); `scroll` is the page scroll position.
 *
 * - Pointer (always, while the mouse is over the page): `pointer {x,y}`, at most ~30 a second.
 * - Highlight mode: drag a rectangle → `highlight {x,y,w,h}`; it is drawn here too, then fades.
 * - Control, after the visitor granted it (`control {allow: true}`): a click sends
 *   `click {x,y}`; a click on a form field also opens the typing box, whose text goes out as
 *   `input {nodeId, value}` (nodeId = the field's rrweb mirror id in the replay); the wheel
 *   sends `scroll {x,y}`, throttled likewise. Revoking control ends all of that at once.
 */
import type { AgentToRelay } from '../protocol/control.ts';
import { MAX_INPUT_VALUE_CHARS } from '../protocol/limits.ts';
import { isSensitiveInput, PRIVATE_REGION_SELECTOR, type ControlRefusal } from '../protocol/sensitiveField.ts';
import type { LivePlayer } from './player.ts';

export type ToolMode = 'pointer' | 'highlight' | 'control';
const FRAME_MS = 33;

/** Calls `fn` with the latest arguments at most once per `ms`, always delivering the last call. */
export function throttle<A extends unknown[]>(fn: (...a: A) => void, ms: number): ((...a: A) => void) & { cancel(): void } {
  let last = 0;
  let pending: A | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = () => {
    timer = undefined;
    if (!pending) return;
    const a = pending;
    pending = undefined;
    last = performance.now();
    fn(...a);
  };
  const f = (...a: A) => {
    pending = a;
    const wait = last + ms - performance.now();
    if (wait <= 0 && !timer) run();
    else if (!timer) timer = setTimeout(run, Math.max(0, wait));
  };
  f.cancel = () => {
    clearTimeout(timer);
    timer = undefined;
    pending = undefined;
  };
  return f;
}

export interface ToolElements {
  layer: HTMLElement;
  pointerBtn: HTMLButtonElement;
  highlightBtn: HTMLButtonElement;
  controlBtn: HTMLButtonElement;
  typeForm: HTMLFormElement;
  typeInput: HTMLInputElement;
  typeLabel: HTMLElement;
}

export class Tools {
  mode: ToolMode = 'pointer';
  private controlGranted = false;
  private controlAsked = false;
  private drag?: { x: number; y: number; box: HTMLElement };
  private typingNode?: number;
  private scrollTarget?: { x: number; y: number; at: number };
  private readonly sendPointer = throttle((x: number, y: number) => this.send({ t: 'pointer', x, y }), FRAME_MS);
  private readonly sendScroll = throttle((x: number, y: number) => this.send({ t: 'scroll', x, y }), FRAME_MS);
  private readonly sendInput = throttle((nodeId: number, value: string) => this.send({ t: 'input', nodeId, value }), FRAME_MS);

  constructor(
    private readonly el: ToolElements,
    private readonly player: LivePlayer,
    private readonly send: (m: AgentToRelay) => boolean,
    /** Tells the agent something in the status line (a refused field, say). */
    private readonly say: (text: string) => void = () => {},
  ) {
    const { layer } = el;
    layer.addEventListener('pointermove', (e) => this.onMove(e));
    layer.addEventListener('pointerdown', (e) => this.onDown(e));
    layer.addEventListener('pointerup', (e) => this.onUp(e));
    layer.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    layer.addEventListener('contextmenu', (e) => this.mode !== 'pointer' && e.preventDefault());
    el.pointerBtn.addEventListener('click', () => this.setMode('pointer'));
    el.highlightBtn.addEventListener('click', () => this.setMode('highlight'));
    el.controlBtn.addEventListener('click', () => {
      if (this.controlGranted) this.setMode(this.mode === 'control' ? 'pointer' : 'control');
      else this.requestControl();
    });
    el.typeInput.addEventListener('input', () => {
      if (this.typingNode !== undefined && this.controlGranted) this.sendInput(this.typingNode, el.typeInput.value.slice(0, MAX_INPUT_VALUE_CHARS));
    });
    el.typeForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.closeTyping();
    });
    el.typeForm.addEventListener('reset', () => this.closeTyping());
    this.render();
  }

  /** The visitor granted (true) or revoked (false) control. */
  setControl(allow: boolean): void {
    this.controlGranted = allow;
    this.controlAsked = false;
    if (allow) this.mode = 'control';
    else {
      if (this.mode === 'control') this.mode = 'pointer';
      this.closeTyping();
    }
    this.render();
  }

  /** A new session, or the end of one: back to the pointer, no control. */
  reset(): void {
    this.controlGranted = false;
    this.controlAsked = false;
    this.mode = 'pointer';
    this.drag?.box.remove();
    this.drag = undefined;
    this.sendPointer.cancel();
    this.sendScroll.cancel();
    this.sendInput.cancel();
    this.closeTyping();
    for (const h of this.el.layer.querySelectorAll('.highlight')) h.remove();
    this.render();
  }

  setMode(mode: ToolMode): void {
    if (mode === 'control' && !this.controlGranted) return;
    this.mode = mode;
    if (mode !== 'control') this.closeTyping();
    this.render();
  }

  requestControl(): void {
    if (this.send({ t: 'control-request' })) {
      this.controlAsked = true;
      this.render();
    }
  }

  private render(): void {
    const { layer, pointerBtn, highlightBtn, controlBtn } = this.el;
    layer.dataset.mode = this.mode;
    pointerBtn.setAttribute('aria-pressed', String(this.mode === 'pointer'));
    highlightBtn.setAttribute('aria-pressed', String(this.mode === 'highlight'));
    controlBtn.setAttribute('aria-pressed', String(this.mode === 'control'));
    controlBtn.textContent = this.controlGranted ? (this.mode === 'control' ? 'Controlling' : 'Take control') : this.controlAsked ? 'Control requested…' : 'Request control';
    controlBtn.dataset.granted = String(this.controlGranted);
  }

  private onMove(e: PointerEvent): void {
    const p = this.player.toViewport(e.clientX, e.clientY);
    if (!p) return;
    this.sendPointer(p.x, p.y);
    if (this.drag) this.drawBox(this.drag.box, this.drag.x, this.drag.y, p.x, p.y);
  }

  private onDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    const p = this.player.toViewport(e.clientX, e.clientY);
    if (!p) return;
    if (this.mode === 'highlight') {
      e.preventDefault();
      this.el.layer.setPointerCapture?.(e.pointerId);
      const box = document.createElement('div');
      box.className = 'highlight drawing';
      this.el.layer.append(box);
      this.drag = { x: p.x, y: p.y, box };
      this.drawBox(box, p.x, p.y, p.x, p.y);
    }
  }

  private onUp(e: PointerEvent): void {
    const p = this.player.toViewport(e.clientX, e.clientY);
    if (this.mode === 'highlight' && this.drag) {
      const { x, y, box } = this.drag;
      this.drag = undefined;
      const end = p ?? { x, y };
      const r = { x: Math.min(x, end.x), y: Math.min(y, end.y), w: Math.abs(end.x - x), h: Math.abs(end.y - y) };
      if (r.w < 4 || r.h < 4) {
        box.remove();
        return;
      }
      box.classList.remove('drawing');
      this.send({ t: 'highlight', ...r });
      setTimeout(() => box.classList.add('fading'), 2500);
      setTimeout(() => box.remove(), 3200);
      return;
    }
    if (this.mode === 'control' && this.controlGranted && p && e.button === 0) {
      this.send({ t: 'click', x: p.x, y: p.y });
      const hit = this.player.nodeAt(p.x, p.y);
      if (hit && isEditable(hit.el) && isProtected(hit.el)) {
        // The visitor's page refuses these anyway (client/control.ts): say so instead of opening a box.
        this.closeTyping();
        this.refused('input', 'sensitive_field');
      } else if (hit && isEditable(hit.el)) this.openTyping(hit.id, hit.el);
      else this.closeTyping();
    }
  }

  /** The visitor's page refused an action (or we know it would): close the box and say why. */
  refused(action: 'click' | 'input' | 'scroll', reason: ControlRefusal): void {
    if (action === 'input') this.closeTyping();
    this.say(REFUSAL_TEXT[reason] ?? 'The visitor\'s page refused that.');
  }

  private onWheel(e: WheelEvent): void {
    if (this.mode !== 'control' || !this.controlGranted) return;
    const s = this.player.scrollState();
    if (!s) return;
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? this.player.viewport.height : 1;
    // Continue from the last position we asked for while the visitor's echo is on its way.
    const base = this.scrollTarget && performance.now() - this.scrollTarget.at < 400 ? this.scrollTarget : s;
    const x = clamp(base.x + e.deltaX * unit, 0, s.maxX);
    const y = clamp(base.y + e.deltaY * unit, 0, s.maxY);
    this.scrollTarget = { x, y, at: performance.now() };
    this.sendScroll(Math.round(x), Math.round(y));
  }

  private openTyping(nodeId: number, el: Element): void {
    this.typingNode = nodeId;
    const { typeForm, typeInput, typeLabel } = this.el;
    const name = el.getAttribute('aria-label') || el.getAttribute('name') || el.getAttribute('placeholder') || el.getAttribute('id') || el.tagName.toLowerCase();
    typeLabel.textContent = `Type into the visitor's field “${name.slice(0, 60)}”`;
    // Always empty, and what is typed replaces the field's value: the replay shows the mask
    // (••••••) or nothing, never the real value, so there is nothing safe to start from.
    typeInput.value = '';
    typeInput.placeholder = 'Replaces what is in the field';
    typeInput.type = 'text';
    typeForm.hidden = false;
    typeForm.dataset.nodeId = String(nodeId);
    typeInput.focus();
  }

  private closeTyping(): void {
    this.typingNode = undefined;
    this.el.typeForm.hidden = true;
    delete this.el.typeForm.dataset.nodeId;
  }

  private drawBox(box: HTMLElement, x0: number, y0: number, x1: number, y1: number): void {
    box.style.left = `${Math.min(x0, x1)}px`;
    box.style.top = `${Math.min(y0, y1)}px`;
    box.style.width = `${Math.abs(x1 - x0)}px`;
    box.style.height = `${Math.abs(y1 - y0)}px`;
  }
}

const REFUSAL_TEXT: Partial<Record<ControlRefusal, string>> = {
  sensitive_field: 'That field is protected (a password, card or private field): agents cannot type or click in it.',
  off_origin: 'That would take the visitor to another site: refused.',
  not_editable: 'That field cannot be typed into.',
  no_target: 'There is nothing there to act on.',
  not_granted: 'The visitor has not given you control.',
};

/** Judged on the replayed element's attributes, by the same rule the embed enforces. */
function isProtected(el: Element): boolean {
  if (el.tagName.toLowerCase() === 'input' && isSensitiveInput((n) => el.getAttribute(n))) return true;
  return el.closest(PRIVATE_REGION_SELECTOR) !== null;
}

function isEditable(el: Element): boolean {
  const tag = el.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select') return true;
  if (tag === 'input') {
    const type = (el.getAttribute('type') ?? 'text').toLowerCase();
    return !['button', 'submit', 'reset', 'image', 'checkbox', 'radio', 'file', 'hidden', 'range', 'color'].includes(type);
  }
  return el.closest('[contenteditable=""], [contenteditable="true"]') !== null;
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
