/**
 * The rrweb event stream, sanitised event by event before the Replayer sees it: every shape
 * that carries markup or CSS (full snapshot nodes, mutation adds, attribute and text changes,
 * style-sheet rules incl. replace/replaceSync, adopted style sheets, style declarations) goes
 * through the element/attribute allow-list and the CSS sanitiser. Event kinds the live view does
 * not need and that can fetch (canvas, fonts, assets, plugins, custom) are dropped.
 *
 * State across events: the tag of every element id and which text nodes are style sheet text,
 * so that later mutations are judged by what they change. Never throws: what it cannot make
 * sense of is dropped.
 */
import { HTML_ELEMENTS, INERT_ELEMENTS, isCustomElementName, localName, PLACEHOLDER, SVG_ELEMENTS } from './allowList.ts';
import { sanitizeAttribute } from './attributes.ts';
import { sanitizeCss } from './css.ts';
import type { UrlPolicy } from './urlPolicy.ts';

export const EventType = { DomContentLoaded: 0, Load: 1, FullSnapshot: 2, IncrementalSnapshot: 3, Meta: 4, Custom: 5, Plugin: 6, Asset: 7, Annotation: 8 } as const;
export const Source = {
  Mutation: 0, MouseMove: 1, MouseInteraction: 2, Scroll: 3, ViewportResize: 4, Input: 5, TouchMove: 6, MediaInteraction: 7,
  StyleSheetRule: 8, CanvasMutation: 9, Font: 10, Log: 11, Drag: 12, StyleDeclaration: 13, Selection: 14, AdoptedStyleSheet: 15, CustomElement: 16,
} as const;
const NodeType = { Document: 0, DocumentType: 1, Element: 2, Text: 3, CDATA: 4, Comment: 5 } as const;

/** Incremental sources the live view applies. Everything else is dropped. */
const KEPT_SOURCES = new Set<number>([
  Source.Mutation, Source.MouseMove, Source.MouseInteraction, Source.Scroll, Source.ViewportResize, Source.Input,
  Source.TouchMove, Source.MediaInteraction, Source.StyleSheetRule, Source.Drag, Source.StyleDeclaration,
  Source.Selection, Source.AdoptedStyleSheet, Source.CustomElement,
]);

export const MAX_VIEWPORT = 16384;
/** Elements whose text children are CSS (rrweb turns a `<link>` with inlined `_cssText` into a `<style>`). */
const STYLE_PARENTS = new Set(['style', 'link']);

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export class EventSanitizer {
  /** Normalised tag of every element id seen since the last full snapshot. */
  private tags = new Map<number, string>();
  /** Placeholders: nothing may be added into them or set on them. */
  private inert = new Set<number>();
  private styleTexts = new Set<number>();
  /** Counts of what was removed, for tests and support. */
  readonly removed = { events: 0, attributes: 0, elements: 0 };

  constructor(private readonly policy: UrlPolicy) {}

  reset(): void {
    this.tags.clear();
    this.inert.clear();
    this.styleTexts.clear();
  }

  /** Sanitises one event in place; returns it, or null to drop it. */
  event(e: unknown): Json | null {
    if (!isObj(e) || !num(e.type) || !num(e.timestamp) || !isObj(e.data)) return this.drop();
    const d = e.data;
    switch (e.type) {
      case EventType.Meta:
        if (!num(d.width) || !num(d.height)) return this.drop();
        d.width = clampSize(d.width);
        d.height = clampSize(d.height);
        d.href = typeof d.href === 'string' ? d.href.slice(0, 2048) : '';
        return e;
      case EventType.FullSnapshot:
        this.reset();
        if (!isObj(d.node) || !this.node(d.node, undefined)) return this.drop();
        if (!isObj(d.initialOffset) || !num(d.initialOffset.top) || !num(d.initialOffset.left)) d.initialOffset = { top: 0, left: 0 };
        return e;
      case EventType.IncrementalSnapshot:
        return this.incremental(e, d);
      default:
        return this.drop(); // load/DOMContentLoaded, custom, plugin, asset and annotation events: not needed live
    }
  }

  /** Sanitises a serialized node tree in place. Returns false if the node must be dropped. */
  private node(n: unknown, parentTag: string | undefined): boolean {
    if (!isObj(n) || !num(n.id) || !num(n.type)) return false;
    this.styleTexts.delete(n.id);
    switch (n.type) {
      case NodeType.Document:
      case NodeType.Comment:
      case NodeType.CDATA:
        if (n.type !== NodeType.Document && typeof n.textContent !== 'string') n.textContent = '';
        if (n.type === NodeType.Document && n.compatMode !== undefined && typeof n.compatMode !== 'string') delete n.compatMode;
        break;
      case NodeType.DocumentType:
        for (const k of ['name', 'publicId', 'systemId']) if (typeof n[k] !== 'string') n[k] = '';
        break;
      case NodeType.Text:
        if (typeof n.textContent !== 'string') n.textContent = '';
        if ((parentTag !== undefined && STYLE_PARENTS.has(parentTag)) || n.isStyle === true) {
          n.textContent = sanitizeCss(n.textContent as string, this.policy);
          this.styleTexts.add(n.id);
        }
        break;
      case NodeType.Element:
        if (!this.element(n)) return false;
        break;
      default:
        return false;
    }
    if (n.childNodes !== undefined) {
      if (!Array.isArray(n.childNodes)) n.childNodes = [];
      const tag = n.type === NodeType.Element ? this.tags.get(n.id) : undefined;
      n.childNodes = (n.childNodes as unknown[]).filter((c) => this.node(c, tag));
    }
    return true;
  }

  private element(n: Json): boolean {
    if (typeof n.tagName !== 'string' || n.tagName.length > 100) return false;
    const tag = localName(n.tagName);
    if (!/^[a-z][a-z0-9._-]*$/.test(tag)) return false;
    const svg = n.isSVG === true;
    const known = svg ? SVG_ELEMENTS.has(tag) : HTML_ELEMENTS.has(tag) || isCustomElementName(tag);
    if (INERT_ELEMENTS.has(tag) || (svg && !known)) {
      // Placeholder: keeps the id for later mutations that name it, holds and does nothing.
      n.tagName = PLACEHOLDER;
      n.isSVG = false;
      n.isCustom = false;
      n.attributes = {};
      n.childNodes = [];
      delete n.isShadowHost;
      this.tags.set(n.id as number, PLACEHOLDER);
      this.inert.add(n.id as number);
      this.removed.elements++;
      return true;
    }
    // An HTML name we do not know (a typo, MathML, a future element): a span keeps its content.
    const kept = known ? tag : 'span';
    n.tagName = kept;
    if (n.isCustom !== undefined) n.isCustom = n.isCustom === true && !svg && isCustomElementName(kept);
    this.tags.set(n.id as number, kept);
    this.inert.delete(n.id as number);
    const attrs = isObj(n.attributes) ? n.attributes : {};
    n.attributes = this.attributes(kept, attrs);
    // <meta http-equiv> loses http-equiv; its content (a refresh URL, a policy) goes with it.
    if (kept === 'meta' && Object.keys(attrs).some((k) => localName(k) === 'http-equiv')) delete (n.attributes as Json).content;
    return true;
  }

  private attributes(tag: string, attrs: Json): Json {
    const clean: Json = {};
    for (const [k, v] of Object.entries(attrs)) {
      const kept = sanitizeAttribute({ tag }, k, v, this.policy);
      if (kept === undefined) this.removed.attributes++;
      else clean[k] = kept;
    }
    return clean;
  }

  private incremental(e: Json, d: Json): Json | null {
    if (!num(d.source) || !KEPT_SOURCES.has(d.source)) return this.drop();
    switch (d.source) {
      case Source.Mutation:
        this.mutation(d);
        return e;
      case Source.ViewportResize:
        if (!num(d.width) || !num(d.height)) return this.drop();
        d.width = clampSize(d.width);
        d.height = clampSize(d.height);
        return e;
      case Source.StyleSheetRule:
        if (d.adds !== undefined) d.adds = this.rules(d.adds);
        for (const k of ['replace', 'replaceSync']) {
          if (d[k] === undefined) continue;
          if (typeof d[k] === 'string') d[k] = sanitizeCss(d[k] as string, this.policy);
          else delete d[k];
        }
        return e;
      case Source.StyleDeclaration:
        if (isObj(d.set)) {
          if (typeof d.set.property !== 'string' || typeof d.set.value !== 'string') delete d.set;
          else d.set.value = sanitizeCss(d.set.value, this.policy);
        }
        return e;
      case Source.AdoptedStyleSheet:
        d.styles = (Array.isArray(d.styles) ? d.styles : []).filter(isObj);
        for (const s of d.styles as Json[]) s.rules = this.rules(s.rules);
        return e;
      case Source.CustomElement:
        if (isObj(d.define) && (typeof d.define.name !== 'string' || !isCustomElementName(d.define.name))) return this.drop();
        return e;
      default:
        return e;
    }
  }

  private rules(v: unknown): Json[] {
    const rules = (Array.isArray(v) ? v : []).filter((r): r is Json => isObj(r) && typeof r.rule === 'string');
    for (const r of rules) r.rule = sanitizeCss(r.rule as string, this.policy);
    return rules;
  }

  private mutation(d: Json): void {
    const adds = (Array.isArray(d.adds) ? d.adds : []).filter((a): a is Json => isObj(a) && num(a.parentId));
    // Elements first, then text: a text add may name a style element added later in the same event
    // (the Replayer queues it until its parent exists), so its parent must be known before it is judged.
    const keep = new Array<boolean>(adds.length).fill(false);
    const isText = (a: Json) => isObj(a.node) && a.node.type === NodeType.Text;
    for (const pass of [false, true]) {
      adds.forEach((a, i) => {
        if (isText(a) !== pass) return;
        const parentId = a.parentId as number;
        keep[i] = !this.inert.has(parentId) && this.node(a.node, this.tags.get(parentId));
      });
    }
    d.adds = adds.filter((_, i) => keep[i]);
    d.removes = (Array.isArray(d.removes) ? d.removes : []).filter((r: unknown) => isObj(r) && num(r.id) && num(r.parentId));
    d.texts = (Array.isArray(d.texts) ? d.texts : []).filter((t: unknown) => {
      if (!isObj(t) || !num(t.id)) return false;
      if (t.value !== null && typeof t.value !== 'string') return false;
      if (typeof t.value === 'string' && this.styleTexts.has(t.id)) t.value = sanitizeCss(t.value, this.policy);
      return true;
    });
    d.attributes = (Array.isArray(d.attributes) ? d.attributes : []).filter((a: unknown) => {
      if (!isObj(a) || !num(a.id) || !isObj(a.attributes)) return false;
      const tag = this.tags.get(a.id);
      // Unknown ids (not an element we passed) and placeholders: nothing to change.
      if (tag === undefined || this.inert.has(a.id)) return false;
      a.attributes = this.attributes(tag, a.attributes);
      return true;
    });
  }

  private drop(): null {
    this.removed.events++;
    return null;
  }
}

function clampSize(v: number): number {
  return Math.max(1, Math.min(MAX_VIEWPORT, Math.round(v)));
}
