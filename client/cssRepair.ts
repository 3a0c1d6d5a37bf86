/**
 * Repairs CSS text that Chromium's CSSOM serialises with declarations lost.
 *
 * rrweb reads rules through the CSSOM (`rule.cssText`) wherever it has no source text: adopted
 * (constructed) stylesheets, in the document or in shadow roots (every Lit/Shoelace component),
 * and `<link>` stylesheets. When a rule sets a shorthand with `var()` and then overrides one of
 * its longhands (`border: solid var(--w) var(--c); border-top-width: 3px`, Shoelace's alert),
 * Chromium cannot write the shorthand back and writes each of its longhands as an empty
 * declaration (`border-top-color: ;`): the replayed rule loses the shorthand, the alert its
 * border, and everything below moves. The CSSOM no longer has the shorthand's text either
 * (`getPropertyValue('border')` is empty), so the source text is taken where it still exists:
 * - adopted sheets of Lit elements (Lit, Shoelace, most web-component libraries): the element
 *   class's `elementStyles` keep each sheet's source (`CSSResult.cssText`);
 * - otherwise a shorthand is recovered from the CSSOM when the browser still reports it (it does
 *   when no longhand of it was overridden), and a rule that cannot be repaired is sent as is.
 */

/** `prop: ;` or `prop:;` (optionally `!important`): what the serialiser writes for a lost value. */
const EMPTY_DECLARATION = /(?:^|[{;\s])-?[a-z][a-z0-9-]*\s*:\s*(?:!important\s*)?;/i;

/** Longhands whose shorthand is not a prefix of their name. */
const OTHER_SHORTHANDS: Record<string, string[]> = {
  top: ['inset'], right: ['inset'], bottom: ['inset'], left: ['inset'],
  'row-gap': ['gap'], 'column-gap': ['gap'], 'column-width': ['columns'], 'column-count': ['columns'],
  'align-content': ['place-content'], 'justify-content': ['place-content'], 'align-items': ['place-items'], 'justify-items': ['place-items'],
  'align-self': ['place-self'], 'justify-self': ['place-self'],
};

export function hasEmptyDeclaration(cssText: string): boolean {
  return EMPTY_DECLARATION.test(cssText);
}

/** Shorthands that may own `longhand`, broadest first: border-top-color → border, border-top, border-color. */
function shorthandCandidates(longhand: string): string[] {
  const parts = longhand.split('-');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('-'));
  if (parts.length > 2) out.push(`${parts[0]}-${parts[parts.length - 1]}`);
  return [...out.filter((s) => s !== ''), ...(OTHER_SHORTHANDS[longhand] ?? [])];
}

const longhandCache = new Map<string, string[]>();

/** The longhands a shorthand sets, asked of the browser itself (`initial` on a scratch style). */
function longhandsOf(shorthand: string): string[] {
  let list = longhandCache.get(shorthand);
  if (!list) {
    const scratch = document.createElement('div').style;
    scratch.setProperty(shorthand, 'initial');
    list = Array.from(scratch);
    longhandCache.set(shorthand, list);
  }
  return list;
}

/** The text a lost longhand came from: every shorthand that holds only lost parts reports it. */
function lostValue(style: CSSStyleDeclaration, longhand: string): string {
  for (const sh of shorthandCandidates(longhand)) {
    const v = style.getPropertyValue(sh);
    if (v !== '') return v;
  }
  return '';
}

/**
 * Recovers the declarations behind lost longhands: the broadest shorthand all of whose longhands
 * are declared in this block, and whose lost longhands all came from one text, is the one the
 * author wrote; its explicitly set longhands follow it and still override it.
 */
function declarations(style: CSSStyleDeclaration): string {
  const declared = new Set(Array.from(style));
  const handled = new Set<string>();
  const recovered: string[] = [];
  const kept: string[] = [];
  for (const prop of Array.from(style)) {
    const value = style.getPropertyValue(prop);
    const important = style.getPropertyPriority(prop) ? ' !important' : '';
    if (value !== '') {
      kept.push(`${prop}: ${value}${important};`);
      continue;
    }
    if (handled.has(prop)) continue;
    const text = lostValue(style, prop);
    if (text === '') continue;
    for (const sh of shorthandCandidates(prop)) {
      const parts = longhandsOf(sh);
      if (parts.length === 0 || !parts.every((p) => declared.has(p))) continue;
      const lost = parts.filter((p) => style.getPropertyValue(p) === '');
      if (!lost.every((p) => lostValue(style, p) === text)) continue;
      recovered.push(`${sh}: ${text}${important};`);
      for (const p of lost) handled.add(p);
      break;
    }
  }
  return [...recovered, ...kept].join(' ');
}

/** A rule's text with lost declarations recovered (the plain `cssText` when nothing was lost). */
export function repairedRuleText(rule: CSSRule): string {
  const text = rule.cssText;
  if (!hasEmptyDeclaration(text)) return text;
  const children = (rule as CSSGroupingRule).cssRules;
  const style = (rule as CSSStyleRule).style as CSSStyleDeclaration | undefined;
  const nested = children ? Array.from(children, repairedRuleText).join(' ') : '';
  if (style && typeof (rule as CSSStyleRule).selectorText === 'string') {
    return `${(rule as CSSStyleRule).selectorText} { ${declarations(style)}${nested ? ' ' + nested : ''} }`;
  }
  if (children) return `${text.slice(0, text.indexOf('{')).trim()} { ${nested} }`; // @media, @supports, @layer, @container
  return text;
}

/** Every rule (depth first) whose serialisation lost a declaration, with its repaired text. */
function* brokenRules(rules: CSSRuleList): Generator<{ broken: string; fixed: string }> {
  for (const rule of Array.from(rules)) {
    const text = rule.cssText;
    if (!hasEmptyDeclaration(text)) continue;
    yield { broken: text, fixed: repairedRuleText(rule) };
  }
}

interface AdoptedStyles { id: number; styleIds?: number[]; styles?: Array<{ styleId: number; rules: Array<{ rule: string; index?: number | number[] }> }> }

/** The source text of a constructed sheet, where a Lit element class keeps it. */
function litSourceOf(sheet: CSSStyleSheet, host: Element): string | undefined {
  const styles = (host.constructor as { elementStyles?: unknown }).elementStyles;
  if (!Array.isArray(styles)) return undefined;
  for (const s of styles as Array<{ styleSheet?: CSSStyleSheet; cssText?: string }>) {
    if (s && s.styleSheet === sheet && typeof s.cssText === 'string') return s.cssText;
  }
  return undefined;
}

/** Splits CSS source into its top-level rules (braces balanced; strings and comments skipped). */
export function splitRules(css: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < css.length; i++) {
    const c = css[i];
    if (c === '/' && css[i + 1] === '*') {
      const end = css.indexOf('*/', i + 2);
      i = end < 0 ? css.length : end + 1;
      if (depth === 0) start = i + 1;
    } else if (c === '"' || c === "'") {
      for (i++; i < css.length && css[i] !== c; i++) if (css[i] === '\\') i++;
    } else if (c === '{') depth++;
    else if (c === '}' || (c === ';' && depth === 0)) {
      if (c === '}') depth--;
      if (depth === 0) {
        const rule = css.slice(start, i + 1).trim();
        if (rule && rule !== ';') out.push(rule);
        start = i + 1;
      }
    }
  }
  return out;
}

/** rrweb AdoptedStyleSheet event data: rules read from the live constructed sheets. */
export function repairAdoptedStyles(data: AdoptedStyles, host: Node | null): void {
  if (!data.styles || !host) return;
  const isDoc = host.nodeType === Node.DOCUMENT_NODE;
  const sheets = isDoc ? (host as Document).adoptedStyleSheets : (host as Element).shadowRoot?.adoptedStyleSheets;
  if (!sheets) return;
  for (const style of data.styles) {
    if (!style.rules.some((r) => hasEmptyDeclaration(r.rule))) continue;
    const sheet = sheets[data.styleIds?.indexOf(style.styleId) ?? -1];
    if (!sheet) continue;
    const source = isDoc ? undefined : litSourceOf(sheet, host as Element);
    const sourceRules = source ? splitRules(source) : undefined;
    const usable = sourceRules && sourceRules.length === sheet.cssRules.length;
    style.rules.forEach((r, i) => {
      if (!hasEmptyDeclaration(r.rule)) return;
      const at = typeof r.index === 'number' ? r.index : i;
      const live = sheet.cssRules[at];
      if (!live || live.cssText !== r.rule) return;
      r.rule = usable ? sourceRules[at] : repairedRuleText(live);
    });
  }
}

interface SNode { type: number; id?: number; attributes?: Record<string, unknown>; childNodes?: SNode[] }

/** Serialised `<link>`/`<style>` elements whose `_cssText` came from the CSSOM (full snapshot or added nodes). */
export function repairSerializedCss(node: SNode, lookup: (id: number) => Node | null): void {
  const css = node.attributes?._cssText;
  if (typeof css === 'string' && hasEmptyDeclaration(css) && typeof node.id === 'number') {
    const sheet = (lookup(node.id) as HTMLLinkElement | HTMLStyleElement | null)?.sheet;
    let text = css;
    try {
      if (sheet) for (const { broken, fixed } of brokenRules(sheet.cssRules)) text = text.replace(broken, fixed);
    } catch {
      /* a cross-origin sheet: rrweb could not read it either */
    }
    node.attributes!._cssText = text;
  }
  if (node.childNodes) for (const child of node.childNodes) repairSerializedCss(child, lookup);
}
