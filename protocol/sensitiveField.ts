/**
 * Which form fields an agent may never type into or click: one rule for the embed, which enforces
 * it, and the viewer, which says so before the agent tries. Judged from attributes only (the viewer
 * has nothing else); the embed adds what only the live page knows (fields that were ever a
 * password, the customer's own mask and block selectors).
 */
export type ControlRefusal = 'sensitive_field' | 'off_origin' | 'not_editable' | 'no_target' | 'not_granted';

/** `get` reads an attribute of an `input` element (null when absent). */
export function isSensitiveInput(get: (name: string) => string | null): boolean {
  const type = (get('type') ?? 'text').trim().toLowerCase();
  if (type === 'password' || type === 'hidden') return true;
  const ac = (get('autocomplete') ?? '').toLowerCase();
  if (/\b(cc-|one-time-code|current-password|new-password)/.test(ac)) return true;
  const hint = `${get('name') ?? ''} ${get('id') ?? ''}`.toLowerCase();
  return /(card|ccnum|cc-num|cvv|cvc|iban|ssn|otp|pin\b)/.test(hint);
}

/** Regions the customer marked private: never acted on either. */
export const PRIVATE_REGION_SELECTOR = '[data-cobrowse-mask], .cobrowse-mask, [data-cobrowse-hidden], .cobrowse-hidden';
