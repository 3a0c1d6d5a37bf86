/**
 * Embed options (client/options.ts) in Node: booleans, the shortcut and its matching. Selector
 * validation needs a real DOM (`querySelector` decides what parses), so invalid selectors are proven
 * in Chromium (test/e2e/browser-embed/); here only empty selector lists, which never reach the DOM.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, matchesShortcut, mergeOptions } from '../../../client/options.ts';

const noReport = (bad: string) => t.fail(`nothing should be reported, got ${bad}`);

t.test('mergeOptions: boolean spellings, fallbacks, and what is left alone', async (t) => {
  t.same(mergeOptions(DEFAULT_OPTIONS, {}, noReport), DEFAULT_OPTIONS, 'no input: the defaults');
  t.not(mergeOptions(DEFAULT_OPTIONS, {}, noReport), DEFAULT_OPTIONS, 'a copy, never the base object');
  t.equal(mergeOptions(DEFAULT_OPTIONS, { requireConsent: '' }, noReport).requireConsent, true, 'a bare attribute ("") is true');
  t.equal(mergeOptions(DEFAULT_OPTIONS, { requireConsent: 'true' }, noReport).requireConsent, true);
  t.equal(mergeOptions(DEFAULT_OPTIONS, { allowControl: 'false' }, noReport).allowControl, false);
  t.equal(mergeOptions(DEFAULT_OPTIONS, { allowControl: false }, noReport).allowControl, false);
  t.equal(mergeOptions(DEFAULT_OPTIONS, { allowControl: 'no' }, noReport).allowControl, true, 'an unknown spelling keeps the current value');
  t.equal(mergeOptions(DEFAULT_OPTIONS, { keepUrlQuery: 1 }, noReport).keepUrlQuery, false, 'a number is not a boolean: current value');
  const strict = mergeOptions(DEFAULT_OPTIONS, { requireConsent: true }, noReport);
  t.equal(mergeOptions(strict, { requireConsent: 'maybe' }, noReport).requireConsent, true, 'the fallback is the base, not the default');
  t.equal(mergeOptions(DEFAULT_OPTIONS, { shortcut: '  Ctrl+Shift+Y ' }, noReport).shortcut, 'ctrl+shift+y', 'shortcut trimmed and lower-cased');
  t.equal(mergeOptions(DEFAULT_OPTIONS, { shortcut: 7 }, noReport).shortcut, '', 'a non-string shortcut is ignored');
  t.same(mergeOptions(DEFAULT_OPTIONS, { unknown: 'x', maskAll: true }, noReport), DEFAULT_OPTIONS, 'unknown keys are ignored');
});

t.test('mergeOptions: empty selector lists add nothing and keep what was there', async (t) => {
  const base = { ...DEFAULT_OPTIONS, mask: '.card' };
  t.equal(mergeOptions(base, { mask: '' }, noReport).mask, '.card', 'empty string');
  t.equal(mergeOptions(base, { mask: ' , ,' }, noReport).mask, '.card', 'only separators');
  t.equal(mergeOptions(base, { mask: [] }, noReport).mask, '.card', 'empty array');
  t.equal(mergeOptions(base, { mask: 12 }, noReport).mask, '.card', 'not a string or array');
  t.equal(mergeOptions(DEFAULT_OPTIONS, { block: '' }, noReport).block, '', 'nothing joined onto nothing');
});

const key = (k: string, mods: Partial<Pick<KeyboardEvent, 'ctrlKey' | 'shiftKey' | 'altKey' | 'metaKey'>> = {}) =>
  ({ key: k, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...mods }) as KeyboardEvent;

t.test('matchesShortcut: the key and exactly the named modifiers', async (t) => {
  t.ok(matchesShortcut('ctrl+shift+y', key('Y', { ctrlKey: true, shiftKey: true })), 'case of the key does not matter');
  t.notOk(matchesShortcut('ctrl+shift+y', key('y', { ctrlKey: true })), 'a missing modifier');
  t.notOk(matchesShortcut('ctrl+shift+y', key('y', { ctrlKey: true, shiftKey: true, altKey: true })), 'an extra modifier');
  t.notOk(matchesShortcut('ctrl+shift+y', key('u', { ctrlKey: true, shiftKey: true })), 'another key');
  t.ok(matchesShortcut('alt + meta + k', key('k', { altKey: true, metaKey: true })), 'spaces around + are fine');
  t.ok(matchesShortcut('f2', key('F2')), 'a key alone');
  t.notOk(matchesShortcut('', key('')), 'off when empty');
  t.notOk(matchesShortcut('ctrl+', key('', { ctrlKey: true })), 'no key named: never matches');
});
