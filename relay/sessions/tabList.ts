/**
 * A visitor's open tabs by tab id: the subset of a Map the relay uses. Nearly every visitor has
 * one tab, and an empty Map alone costs ~180 bytes of heap; so a single tab is held directly and a
 * Map is made only while a visitor has two or more (back to one field when it is down to one).
 */
import type { TabData } from './types.ts';

export class TabList {
  /** The tab, while there is at most one. */
  private one: TabData | undefined = undefined;
  /** All tabs, in the order they came, while there are two or more. */
  private many: Map<string, TabData> | undefined = undefined;

  get size(): number {
    return this.many ? this.many.size : this.one ? 1 : 0;
  }

  get(tabId: string): TabData | undefined {
    if (this.many) return this.many.get(tabId);
    return this.one?.tabId === tabId ? this.one : undefined;
  }

  has(tabId: string): boolean {
    return this.get(tabId) !== undefined;
  }

  /** Adds the tab, or replaces the one with its id (keeping its place). */
  set(tab: TabData): void {
    if (this.many) {
      this.many.set(tab.tabId, tab);
    } else if (!this.one || this.one.tabId === tab.tabId) {
      this.one = tab;
    } else {
      this.many = new Map([[this.one.tabId, this.one], [tab.tabId, tab]]);
      this.one = undefined;
    }
  }

  delete(tabId: string): boolean {
    if (!this.many) {
      if (this.one?.tabId !== tabId) return false;
      this.one = undefined;
      return true;
    }
    if (!this.many.delete(tabId)) return false;
    if (this.many.size === 1) {
      this.one = this.many.values().next().value;
      this.many = undefined;
    }
    return true;
  }

  *values(): IterableIterator<TabData> {
    if (this.many) yield* this.many.values();
    else if (this.one) yield this.one;
  }
}
