/**
 * Applies an agent's click, scroll and typing, only while the visitor has granted control, and
 * never into a sensitive field (privacy.ts) or to a page off the current origin.
 */
import type { ControlRefusal } from '../protocol/sensitiveField.ts';
import { isSensitiveField } from './privacy.ts';

export type Refusal = Exclude<ControlRefusal, 'not_granted'>;

export interface ControlRules {
  mask: string;
  block: string;
  everPassword: WeakSet<Element>;
  nodeById(id: number): Node | null;
}

/** Elements (and their subtrees) the agent's actions must never touch: our own UI. */
function isOurUi(el: Element): boolean {
  return el.closest('cobrowse-ui') !== null;
}

function sameOrigin(url: string): boolean {
  try {
    const u = new URL(url, location.href);
    return u.origin === location.origin;
  } catch {
    return false;
  }
}

/** Would activating `el` leave the origin (a link, or a form submitted elsewhere)? */
function leavesOrigin(el: Element): boolean {
  const link = el.closest('a[href], area[href]') as HTMLAnchorElement | null;
  if (link && (!sameOrigin(link.href) || link.target === '_blank')) return true;
  const submit = el.closest('button, input[type=submit i], input[type=image i]') as HTMLButtonElement | HTMLInputElement | null;
  const form = submit?.form;
  if (form && (submit!.type === 'submit' || submit!.type === 'image')) {
    const action = submit!.getAttribute('formaction') ?? form.getAttribute('action') ?? location.href;
    if (!sameOrigin(action)) return true;
  }
  return false;
}

export function applyClick(x: number, y: number, rules: ControlRules): Refusal | undefined {
  const el = document.elementFromPoint(x, y);
  if (!el || isOurUi(el)) return 'no_target';
  if (isSensitiveField(el, rules.everPassword, rules.mask, rules.block)) return 'sensitive_field';
  if (leavesOrigin(el)) return 'off_origin';
  const init: MouseEventInit = { bubbles: true, cancelable: true, composed: true, clientX: x, clientY: y, view: window, button: 0 };
  el.dispatchEvent(new MouseEvent('mousedown', init));
  if (el instanceof HTMLElement && typeof el.focus === 'function') el.focus();
  el.dispatchEvent(new MouseEvent('mouseup', init));
  // `click()` runs the element's activation behaviour (links, checkboxes, buttons) like a real click.
  if (el instanceof HTMLElement) el.click();
  else el.dispatchEvent(new MouseEvent('click', init));
  return undefined;
}

export function applyScroll(x: number, y: number): void {
  window.scrollTo({ left: x, top: y });
}

const TEXT_INPUT_TYPES = new Set(['text', 'search', 'email', 'tel', 'url', 'number', '']);

export function applyInput(nodeId: number, value: string, rules: ControlRules): Refusal | undefined {
  const node = rules.nodeById(nodeId);
  if (!node || node.nodeType !== 1) return 'no_target';
  const el = node as Element;
  if (isOurUi(el)) return 'no_target';
  if (isSensitiveField(el, rules.everPassword, rules.mask, rules.block)) return 'sensitive_field';
  if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) {
    if (el instanceof HTMLInputElement && !TEXT_INPUT_TYPES.has(el.type.toLowerCase())) return 'not_editable';
    if (el.disabled || el.readOnly) return 'not_editable';
    // The prototype's setter, so frameworks that track the value (React) see the change.
    const proto = el instanceof HTMLInputElement ? HTMLInputElement.prototype : HTMLTextAreaElement.prototype;
    Object.getOwnPropertyDescriptor(proto, 'value')?.set?.call(el, value);
    el.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
    return undefined;
  }
  if (el instanceof HTMLElement && el.isContentEditable) {
    el.textContent = value;
    el.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
    return undefined;
  }
  return 'not_editable';
}
