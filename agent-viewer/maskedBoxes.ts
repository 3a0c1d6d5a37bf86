/**
 * Masked elements show as gray boxes. The embed serialises an element it must not show
 * (`data-cobrowse-hidden`, the customer's block selector, canvases among them) as an empty
 * element with only its size (`rr_width`/`rr_height`) and its class; rrweb rebuilds it as an
 * empty, transparent box, so the agent could not tell "masked" from "empty". The viewer marks such
 * nodes with a class of its own before replay and styles that class (MASKED_BOX_RULE).
 */
export const MASKED_BOX_CLASS = 'cobrowse-view-masked';
export const MASKED_BOX_RULE = `.${MASKED_BOX_CLASS} { background: #d5d8dd !important; }`;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Marks every serialised node (and descendant) that was masked into a sized box (iterative: pages can be deep). */
export function markMaskedBoxes(root: unknown): void {
  const stack = [root];
  while (stack.length) {
    const node = stack.pop();
    if (!isObj(node)) continue;
    const attrs = node.attributes;
    const cls = isObj(attrs) && typeof attrs.class === 'string' ? attrs.class : '';
    if (isObj(attrs) && ('rr_width' in attrs || 'rr_height' in attrs) && !cls.split(/\s+/).includes(MASKED_BOX_CLASS)) {
      attrs.class = typeof attrs.class === 'string' && attrs.class ? `${attrs.class} ${MASKED_BOX_CLASS}` : MASKED_BOX_CLASS;
    }
    if (Array.isArray(node.childNodes)) for (const c of node.childNodes) stack.push(c);
  }
}

/** The same for a full-snapshot or mutation event's nodes. */
export function markMaskedInEvent(e: Json): void {
  const data = e.data;
  if (!isObj(data)) return;
  if (e.type === 2) markMaskedBoxes(data.node);
  else if (e.type === 3 && data.source === 0 && Array.isArray(data.adds)) for (const a of data.adds) if (isObj(a)) markMaskedBoxes(a.node);
}
