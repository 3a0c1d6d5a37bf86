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

import { isSensitiveInput } from '../protocol/sensitiveField.ts';

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
/**
 * Attributes that carry a value on any element at all (custom elements keep their state in host
 * attributes: `<sl-input value>`, `<x-field default-value>`): masked wherever they appear.
 */
const VALUE_ATTRS = ['value', 'default-value', 'defaultvalue', 'data-value', 'aria-valuetext', 'aria-valuenow', 'current-value', 'checked'];
/**
 * On a field-like custom element every attribute is masked except these, which describe
 * structure or look, never data (rrweb's own `rr_*` sizes too).
 */
const STRUCTURAL_ATTRS = new Set(['id', 'class', 'style', 'slot', 'part', 'role', 'tabindex', 'hidden', 'disabled', 'readonly', 'required', 'type', 'size', 'variant', 'dir', 'lang', 'aria-hidden', 'aria-disabled', 'aria-expanded', 'aria-invalid', 'aria-required', 'exportparts']);
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

/**
 * The customer's unmask allow-list (`data-cobrowse-unmask`, the `unmask` option): fields whose
 * values agents may see (country, quantity, search). Set once by the session before capture.
 * Never honoured for passwords (even a former one), hidden inputs, card or one-time-code fields,
 * or anything inside a blocked or masked region: `isSensitiveField` has the last word.
 */
const unmaskRules = { selector: '', mask: '', block: '', everPassword: new WeakSet<Element>() };
export const UNMASK_SELECTOR = '[data-cobrowse-unmask]';

export function configureUnmask(rules: { unmask: string; mask: string; block: string; everPassword: WeakSet<Element> }): void {
  unmaskRules.selector = rules.unmask ? `${UNMASK_SELECTOR}, ${rules.unmask}` : UNMASK_SELECTOR;
  unmaskRules.mask = rules.mask;
  unmaskRules.block = rules.block;
  unmaskRules.everPassword = rules.everPassword;
}

/** Is this live field on the allow-list (and not sensitive)? `option`s follow their `select`. */
export function isUnmasked(node: Node | null | undefined): boolean {
  if (!node || node.nodeType !== 1) return false;
  let el = node as Element;
  const tag = el.tagName.toLowerCase();
  if (tag === 'option' || tag === 'optgroup') {
    const sel = el.closest('select');
    if (!sel) return false;
    el = sel;
  } else if (tag !== 'input' && tag !== 'select' && tag !== 'textarea') return false;
  if (tag === 'input' && (el as HTMLInputElement).type.toLowerCase() !== (el.getAttribute('type') ?? 'text').toLowerCase()) return false;
  try {
    if (!el.matches(unmaskRules.selector) && !el.closest(UNMASK_SELECTOR)) return false;
  } catch {
    return false; // a bad selector unmasks nothing
  }
  return !isSensitiveField(el, unmaskRules.everPassword, unmaskRules.mask, unmaskRules.block);
}

/** Masks an input value unless its field is on the allow-list. */
function maskFieldValue(text: string, el: Node | null | undefined): string {
  return isUnmasked(el) ? text : maskInput(text);
}

/**
 * A custom element (or any element with `type=password`) that holds a value: a form-associated
 * custom element, or one whose attributes carry a value. Its attributes, text and shadow content
 * are all masked, since it may render its value anywhere inside.
 */
export function isFieldLike(tag: string | undefined, attrs: (name: string) => string | null | undefined): boolean {
  if (!tag) return false;
  const t = tag.toLowerCase();
  if (String(attrs('type') ?? '').toLowerCase() === 'password' && t !== 'input') return true;
  if (!t.includes('-')) return false;
  if (VALUE_ATTRS.some((a) => attrs(a) != null)) return true;
  try {
    return (customElements.get(t) as { formAssociated?: boolean } | undefined)?.formAssociated === true;
  } catch {
    return false;
  }
}

/** Masks every non-structural attribute of a field-like element. */
function scrubFieldLikeAttrs(attrs: Attrs): void {
  for (const [name, v] of Object.entries(attrs)) {
    if (STRUCTURAL_ATTRS.has(name) || name.startsWith('rr_')) continue;
    if (typeof v === 'string' && v !== '') attrs[name] = MASK;
  }
}

/** Masks the value-carrying attributes any element may have. */
function scrubValueAttrs(tag: string, attrs: Attrs): void {
  const t = tag.toLowerCase();
  for (const name of VALUE_ATTRS) {
    const v = attrs[name];
    if (typeof v !== 'string' || v === '') continue;
    // Native form fields: scrubFormAttrs decides (captions, the allow-list); `checked` is their state, not data.
    if (FORM_TAGS.has(t) && (FORM_ATTRS.includes(name) || name === 'checked')) continue;
    attrs[name] = MASK;
  }
}

/** Is this live node inside a field-like element (crossing shadow roots)? */
function insideFieldLike(node: Node | null): boolean {
  let n: Node | null = node;
  while (n) {
    if (n.nodeType === 1) {
      const el = n as Element;
      if (isFieldLike(el.tagName, (a) => el.getAttribute(a))) return true;
    }
    n = n.parentNode ?? (n as ShadowRoot).host ?? null;
  }
  return false;
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
    maskInputFn: (text: string, el: HTMLElement) => maskFieldValue(text, el),
    maskTextSelector: extraMask ? `${MASK_TEXT_SELECTOR}, ${extraMask}` : MASK_TEXT_SELECTOR,
    maskTextFn: (text: string, el: HTMLElement | null) => (isUnmasked(el) ? text : maskText(text)),
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

/**
 * Masks the data-bearing attributes of one form element (serialised or a mutation's changes).
 * `unmasked`: the field is on the customer's allow-list, so its value (and only that) stays.
 */
export function scrubFormAttrs(tag: string, attrs: Attrs, inputType?: unknown, unmasked = false): void {
  const t = tag.toLowerCase();
  for (const name of FORM_ATTRS) {
    const v = attrs[name];
    if (typeof v !== 'string' || v === '') continue;
    if (name === 'value' && t === 'input' && typeof inputType === 'string' && CAPTION_TYPES.has(inputType.toLowerCase())) continue;
    if (name === 'value' && unmasked) continue;
    // A placeholder is the page's hint, shown only while the field is empty: masking it to bullets
    // made empty fields look filled. It is dropped rather than masked (it can still hold data).
    attrs[name] = name === 'placeholder' ? '' : MASK;
  }
}

/** Lookup of a live node by rrweb id, for judging serialised nodes by the element they stand for. */
type Lookup = (id: number) => Node | null;
const noLookup: Lookup = () => null;

/**
 * Walks a serialised subtree (full snapshot or an added node), masking as it goes. `inField`:
 * the subtree is inside a field-like element, so every attribute and text in it is masked.
 */
export function scrubTree(node: SNode, parentTag?: string, lookup: Lookup = noLookup, inField = false): void {
  let field = inField;
  if (node.type === NODE_ELEMENT && node.attributes) {
    const attrs = node.attributes;
    const get = (a: string) => (typeof attrs[a] === 'string' ? (attrs[a] as string) : attrs[a] === undefined ? undefined : String(attrs[a]));
    field ||= isFieldLike(node.tagName, get);
    if (field) scrubFieldLikeAttrs(attrs);
    else scrubValueAttrs(node.tagName ?? '', attrs);
    if (isFormTag(node.tagName)) {
      const live = node.id !== undefined ? lookup(node.id) : null;
      scrubFormAttrs(node.tagName!, attrs, attrs.type, !field && isUnmasked(live));
    }
  }
  if (node.type === NODE_TEXT && node.textContent) {
    const formText = !!parentTag && MASKED_TEXT_PARENTS.has(parentTag) && !isUnmasked(node.id !== undefined ? lookup(node.id)?.parentNode : null);
    if (field || formText) node.textContent = maskText(node.textContent);
  }
  const tag = node.type === NODE_ELEMENT ? node.tagName?.toLowerCase() : undefined;
  if (node.childNodes) for (const child of node.childNodes) scrubTree(child, tag, lookup, field);
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
    scrubTree(d.node as SNode, undefined, lookup);
    return;
  }
  if (event.type !== EVENT_INCREMENTAL) return;
  if (d.source === SOURCE_INPUT) {
    const node = lookup(d.id);
    const keep = typeof d.text === 'string' && !insideFieldLike(node?.parentNode ?? null) && isUnmasked(node);
    d.text = typeof d.text === 'string' ? (keep ? d.text : maskInput(d.text)) : '';
    return;
  }
  if (d.source !== SOURCE_MUTATION) return;
  for (const add of d.adds ?? []) {
    const parent = lookup(add.parentId);
    scrubTree(add.node as SNode, elementTag(parent), lookup, insideFieldLike(parent));
  }
  for (const change of d.attributes ?? []) {
    const node = lookup(change.id);
    const tag = elementTag(node);
    // A node we cannot see (e.g. already gone) is treated as field-like: masking a stray attribute costs nothing.
    if (tag === undefined || insideFieldLike(node) || isFieldLike(tag, (a) => change.attributes[a])) {
      scrubFieldLikeAttrs(change.attributes);
      continue;
    }
    scrubValueAttrs(tag, change.attributes);
    if (FORM_TAGS.has(tag)) {
      const type = (node as HTMLInputElement | null)?.getAttribute?.('type') ?? change.attributes.type;
      scrubFormAttrs(tag, change.attributes, type, isUnmasked(node));
    }
  }
  for (const text of d.texts ?? []) {
    const parent = lookup(text.id)?.parentNode ?? null;
    const tag = elementTag(parent);
    if (typeof text.value !== 'string') continue;
    if (tag === undefined || insideFieldLike(parent) || (MASKED_TEXT_PARENTS.has(tag) && !isUnmasked(parent))) text.value = maskText(text.value);
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
    // The live type too: a script may set `.type` without the attribute.
    if (input.type.toLowerCase() === 'password' || input.type.toLowerCase() === 'hidden') return true;
    if (isSensitiveInput((n) => el.getAttribute(n))) return true;
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
