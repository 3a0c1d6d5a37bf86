/**
 * Embed options (client/options.ts) that need no DOM: boolean and shortcut parsing, and the
 * shortcut matcher. Selector options parse through the DOM and are covered by the browser tests.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, matchesShortcut, mergeOptions } from '../../../client/options.ts';

const noReport = (bad: string) => {
  throw new Error(`unexpected report ${bad}`);
};

t.test('booleans: true, false, attribute-style strings; anything else keeps the value', async (t) => {
  t.equal(mergeOptions(DEFAULT_OPTIONS, { requireConsent: true }, noReport).requireConsent, true);
  t.equal(mergeOptions(DEFAULT_OPTIONS, { requireConsent: 'true' }, noReport).requireConsent, true);
  t.equal(mergeOptions(DEFAULT_OPTIONS, { requireConsent: '' }, noReport).requireConsent, true, 'a bare data- attribute means true');
  t.equal(mergeOptions(DEFAULT_OPTIONS, { allowControl: 'false' }, noReport).allowControl, false);
  t.equal(mergeOptions(DEFAULT_OPTIONS, { allowControl: 'nope' }, noReport).allowControl, true, 'garbage keeps the default');
  t.equal(mergeOptions(DEFAULT_OPTIONS, { keepUrlQuery: 1 }, noReport).keepUrlQuery, false, 'a number is not a boolean');
});

t.test('merging never changes the base and ignores unknown keys', async (t) => {
  const base = { ...DEFAULT_OPTIONS };
  const out = mergeOptions(base, { requireConsent: true, shortcut: ' Ctrl+Shift+Y ', bogus: 1 }, noReport);
  t.same(base, DEFAULT_OPTIONS, 'base untouched');
  t.equal(out.shortcut, 'ctrl+shift+y', 'trimmed and lower-cased');
  t.notOk('bogus' in out);
  t.equal(mergeOptions(DEFAULT_OPTIONS, { shortcut: 42 }, noReport).shortcut, '', 'a non-string shortcut is ignored');
});

const key = (k: string, mods: Partial<Record<'ctrlKey' | 'shiftKey' | 'altKey' | 'metaKey', boolean>> = {}) =>
  ({ key: k, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...mods }) as KeyboardEvent;

t.test('the shortcut matches its key with exactly its modifiers', async (t) => {
  t.ok(matchesShortcut('ctrl+shift+y', key('Y', { ctrlKey: true, shiftKey: true })), 'case-insensitive key');
  t.notOk(matchesShortcut('ctrl+shift+y', key('y', { ctrlKey: true })), 'a modifier missing');
  t.notOk(matchesShortcut('ctrl+shift+y', key('y', { ctrlKey: true, shiftKey: true, altKey: true })), 'an extra modifier');
  t.notOk(matchesShortcut('ctrl+shift+y', key('u', { ctrlKey: true, shiftKey: true })), 'another key');
  t.notOk(matchesShortcut('', key('y')), 'no shortcut configured: nothing matches');
  t.ok(matchesShortcut('f2', key('F2')), 'a key without modifiers');
});
