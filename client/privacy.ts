/**
 * Masking rules, applied in the browser before anything is sent.
 *
 * Two layers, on purpose:
 * 1. rrweb's own options (`recordOptions`): every input value masked with a fixed-length mask,
 *    text inside textarea/option/contenteditable and the customer's selectors masked, blocked
 *    elements serialised as an empty same-size box. rrweb applies these on both paths.
 * 2. `scrubEvent`, run on every event rrweb emits, full snapshot and mutations alike: it masks the
 *    attributes rrweb leaves alone (`value` set as an attribute, `placeholder`, `title`,
 *    `aria-label`, option labels) and forces the fixed mask on every input event. It does not
 *    trust layer 1, so a change in rrweb cannot quietly widen what leaves the page.
 */
import { EventType, IncrementalSource, NodeType } from '../protocol/rrweb.ts';

/** What every masked value becomes: fixed length, so nothing about the value's length leaks. */
export const MASK = '••••••';

/** Elements marked by the customer (or us) as never to be serialised: a same-size box instead. */
export const BLOCK_CLASS = 'cobrowse-hidden';
export const BLOCK_SELECTOR = '[data-cobrowse-hidden], cobrowse-ui';
/** Text that is always masked: form text, editable regions, and the customer's marker. */
export const MASK_TEXT_SELECTOR = 'textarea, option, optgroup, select, [contenteditable]:not([contenteditable="false"]), [data-cobrowse-mask], .cobrowse-mask';

const FORM_TAGS = new Set(['input', 'textarea', 'select', 'option', 'optgroup', 'datalist', 'output']);
/** Attributes of form fields that can carry what the visitor typed or what the page knows about them. */
const FORM_ATTRS = ['value', 'placeholder', 'title', 'aria-label', 'aria-valuetext', 'aria-description', 'label', 'data-value'];
/** Inputs whose `value` is a button caption, not data. */
const CAPTION_TYPES = new Set(['submit', 'button', 'reset', 'image']);
/** Text under these parents is masked wherever rrweb reports it. */
const MASKED_TEXT_PARENTS = new Set(['textarea', 'option', 'optgroup', 'select']);

const EVENT_FULL_SNAPSHOT = EventType.FullSnapshot;
const EVENT_INCREMENTAL = EventType.IncrementalSnapshot;
const SOURCE_MUTATION = IncrementalSource.Mutation;
const SOURCE_INPUT = IncrementalSource.Input;
const NODE_ELEMENT = NodeType.Element;
const NODE_TEXT = NodeType.Text;

export function maskInput(value: string): string {
  // Empty stays empty so the agent can tell a filled field from an empty one; nothing else leaks.
  return value ? MASK : '';
}

export function maskText(text: string): string {
  // Keeps whitespace so the layout of masked paragraphs survives; every other character is hidden.
  return text.replace(/\S/g, '*');
}

/** rrweb recorder options that implement layer 1. */
export function recordOptions(extraMask: string, extraBlock: string) {
  return {
    maskAllInputs: true,
    // `input: true` matches on the tag name, so every input type (hidden, checkbox values, custom) is masked.
    maskInputOptions: {
      input: true, textarea: true, select: true, password: true, email: true, tel: true, text: true, number: true,
      search: true, url: true, date: true, 'datetime-local': true, month: true, week: true, time: true, color: true, range: true,
    } as Record<string, boolean>,
    maskInputFn: (text: string) => maskInput(text),
    maskTextSelector: extraMask ? `${MASK_TEXT_SELECTOR}, ${extraMask}` : MASK_TEXT_SELECTOR,
    maskTextFn: (text: string) => maskText(text),
    blockClass: BLOCK_CLASS,
    blockSelector: extraBlock ? `${BLOCK_SELECTOR}, ${extraBlock}` : BLOCK_SELECTOR,
    recordCanvas: false,
    collectFonts: false,
    inlineImages: false,
    recordCrossOriginIframes: false,
    // Comments and script bodies can hold data the page never shows; drop them.
    slimDOMOptions: { script: true, comment: true, headFavicon: true, headWhitespace: true } as const,
  };
}

type Attrs = Record<string, unknown>;
interface SNode { type: number; tagName?: string; attributes?: Attrs; childNodes?: SNode[]; textContent?: string; id?: number }

function isFormTag(tag: string | undefined): boolean {
  return !!tag && FORM_TAGS.has(tag.toLowerCase());
}

/** Masks the data-bearing attributes of one form element (serialised or a mutation's changes). */
export function scrubFormAttrs(tag: string, attrs: Attrs, inputType?: unknown): void {
  const t = tag.toLowerCase();
  for (const name of FORM_ATTRS) {
    const v = attrs[name];
    if (typeof v !== 'string' || v === '') continue;
    if (name === 'value' && t === 'input' && typeof inputType === 'string' && CAPTION_TYPES.has(inputType.toLowerCase())) continue;
    attrs[name] = MASK;
  }
}

/** Walks a serialised subtree (full snapshot or an added node), masking as it goes. */
export function scrubTree(node: SNode, parentTag?: string): void {
  if (node.type === NODE_ELEMENT && node.attributes && isFormTag(node.tagName)) {
    scrubFormAttrs(node.tagName!, node.attributes, node.attributes.type);
  }
  if (node.type === NODE_TEXT && parentTag && MASKED_TEXT_PARENTS.has(parentTag) && node.textContent) {
    node.textContent = maskText(node.textContent);
  }
  const tag = node.type === NODE_ELEMENT ? node.tagName?.toLowerCase() : undefined;
  if (node.childNodes) for (const child of node.childNodes) scrubTree(child, tag);
}

/** Looks up the live DOM node behind an rrweb id (the recorder's mirror). */
export type NodeLookup = (id: number) => Node | null;

function elementTag(n: Node | null): string | undefined {
  return n && n.nodeType === 1 ? (n as Element).tagName.toLowerCase() : undefined;
}

/**
 * Masks one rrweb event in place. `lookup` finds the live node for an id, so attribute changes
 * and text changes can be judged by the element they land on.
 */
export function scrubEvent(event: { type: number; data?: any }, lookup: NodeLookup): void {
  const d = event.data;
  if (!d) return;
  if (event.type === EVENT_FULL_SNAPSHOT) {
    scrubTree(d.node as SNode);
    return;
  }
  if (event.type !== EVENT_INCREMENTAL) return;
  if (d.source === SOURCE_INPUT) {
    d.text = typeof d.text === 'string' ? maskInput(d.text) : '';
    return;
  }
  if (d.source !== SOURCE_MUTATION) return;
  for (const add of d.adds ?? []) scrubTree(add.node as SNode, elementTag(lookup(add.parentId)));
  for (const change of d.attributes ?? []) {
    const node = lookup(change.id);
    const tag = elementTag(node);
    // A node we cannot see (e.g. already gone) is treated as a form field: masking a stray title costs nothing.
    if (tag === undefined || FORM_TAGS.has(tag)) {
      const type = (node as HTMLInputElement | null)?.getAttribute?.('type') ?? change.attributes.type;
      scrubFormAttrs(tag ?? 'input', change.attributes, type);
    }
  }
  for (const text of d.texts ?? []) {
    const parent = lookup(text.id)?.parentNode ?? null;
    const tag = elementTag(parent);
    if (typeof text.value === 'string' && (tag === undefined || MASKED_TEXT_PARENTS.has(tag))) text.value = maskText(text.value);
  }
}

/**
 * Fields an agent may never type into or click: passwords (including one switched to
 * `type=text`), card and one-time-code fields, hidden inputs, and anything blocked or masked
 * by the customer's rules.
 */
export function isSensitiveField(el: Element, everPassword: WeakSet<Element>, extraMask: string, extraBlock: string): boolean {
  if (everPassword.has(el)) return true;
  const tag = el.tagName.toLowerCase();
  if (tag === 'input') {
    const input = el as HTMLInputElement;
    const type = input.type.toLowerCase();
    if (type === 'password' || type === 'hidden') return true;
    const ac = (input.getAttribute('autocomplete') ?? '').toLowerCase();
    if (/\b(cc-|one-time-code|current-password|new-password)/.test(ac)) return true;
    const hint = `${input.name} ${input.id}`.toLowerCase();
    if (/(card|ccnum|cc-num|cvv|cvc|iban|ssn|otp|pin\b)/.test(hint)) return true;
  }
  const blocked = extraBlock ? `${BLOCK_SELECTOR}, .${BLOCK_CLASS}, ${extraBlock}` : `${BLOCK_SELECTOR}, .${BLOCK_CLASS}`;
  try {
    if (el.closest(blocked)) return true;
    if (extraMask && el.closest(extraMask)) return true;
    if (el.closest('[data-cobrowse-mask], .cobrowse-mask')) return true;
  } catch {
    return true; // a bad customer selector: refuse rather than guess
  }
  return false;
}
