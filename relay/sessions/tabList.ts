/**
 * A visitor's open tabs by tab id: the subset of a Map the relay uses. Nearly every visitor has
 * one tab, and an empty Map alone costs ~180 bytes of heap; so a single tab is held directly and a
 * Map is made only while a visitor has two or more (back to the tab itself when it is down to one).
 * One field for both cases: the Visitor extends this class, and each field is 8 bytes per visitor.
 */
import type { TabData } from './types.ts';

export class TabList {
  /** Nothing, the one tab, or (two or more) all tabs in the order they came. */
  private held: TabData | Map<string, TabData> | undefined = undefined;

  get size(): number {
    const h = this.held;
    return h instanceof Map ? h.size : h ? 1 : 0;
  }

  get(tabId: string): TabData | undefined {
    const h = this.held;
    if (h instanceof Map) return h.get(tabId);
    return h?.tabId === tabId ? h : undefined;
  }

  has(tabId: string): boolean {
    return this.get(tabId) !== undefined;
  }

  /** Adds the tab, or replaces the one with its id (keeping its place). */
  set(tab: TabData): void {
    const h = this.held;
    if (h instanceof Map) h.set(tab.tabId, tab);
    else if (!h || h.tabId === tab.tabId) this.held = tab;
    else this.held = new Map([[h.tabId, h], [tab.tabId, tab]]);
  }

  delete(tabId: string): boolean {
    const h = this.held;
    if (!(h instanceof Map)) {
      if (h?.tabId !== tabId) return false;
      this.held = undefined;
      return true;
    }
    if (!h.delete(tabId)) return false;
    if (h.size === 1) this.held = h.values().next().value;
    return true;
  }

  *values(): IterableIterator<TabData> {
    const h = this.held;
    if (h instanceof Map) yield* h.values();
    else if (h) yield h;
  }
}
