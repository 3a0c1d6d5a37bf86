/**
 * A live view jumps to the visitor's scroll position. rrweb's Replayer scrolls smoothly when it
 * plays a scroll event live (`behavior: 'smooth'`, ~470 ms to settle), and even a plain scroll
 * follows a page's own `scroll-behavior: smooth` (Bootstrap sets it on :root): the agent would
 * see the page late and mid-way. `behavior: 'instant'` ignores both.
 */
import type { Replayer } from 'rrweb';

interface ScrollData { id: number; x: number; y: number }

export function makeScrollsInstant(replayer: Replayer): void {
  const r = replayer as unknown as { applyScroll?: (d: ScrollData, isSync: boolean) => void };
  if (typeof r.applyScroll !== 'function') return; // rrweb changed: keep its own behaviour
  r.applyScroll = (d: ScrollData) => {
    const target = replayer.getMirror().getNode(d.id) as (Node & Partial<Element>) | null;
    if (!target) return;
    const to: ScrollToOptions = { top: d.y, left: d.x, behavior: 'instant' };
    try {
      if (target.nodeType === Node.DOCUMENT_NODE) (target as unknown as Document).defaultView?.scrollTo(to);
      else target.scrollTo?.(to);
    } catch {
      /* a node that cannot scroll */
    }
  };
}
