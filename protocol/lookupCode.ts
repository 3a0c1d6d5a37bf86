/**
 * The 6-digit lookup code a visitor reads out. It is shown as "477 005", so people type it with a
 * space (or a dash, or dots): every side accepts those and compares the bare digits.
 */
export const LOOKUP_CODE_PATTERN = /^\d{6}$/;

/** The bare 6 digits, or undefined if `input` is not a lookup code once separators are dropped. */
export function normalizeLookupCode(input: string): string | undefined {
  const bare = input.trim().replace(/[\s.\-_]/g, '');
  return LOOKUP_CODE_PATTERN.test(bare) ? bare : undefined;
}
