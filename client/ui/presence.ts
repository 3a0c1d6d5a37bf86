/** The agents' pointers and highlights, drawn over the page; they never take clicks. */
import { h } from './dom.ts';
import type { UiHost } from './host.ts';

const SVG_NS = 'http://www.w3.org/2000/svg';
const HIGHLIGHT_MS = 4000;

function arrow(): SVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('width', '20');
  svg.setAttribute('height', '20');
  svg.setAttribute('viewBox', '0 0 20 20');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', 'M2 1 L2 17 L6.5 12.5 L9.5 19 L12 18 L9 11.5 L15 11.5 Z');
  path.setAttribute('fill', '#7c3aed');
  path.setAttribute('stroke', '#fff');
  path.setAttribute('stroke-width', '1.5');
  svg.appendChild(path);
  return svg;
}

export class Presence {
  private pointers = new Map<string, HTMLElement>();

  constructor(private readonly host: UiHost) {}

  pointer(agentId: string, name: string, x: number, y: number): void {
    let el = this.pointers.get(agentId);
    if (!el) {
      el = h('div', { className: 'pointer', attrs: { 'data-cobrowse-pointer': agentId, 'aria-hidden': 'true' } }, [arrow(), h('span', { text: name })]);
      this.pointers.set(agentId, el);
      this.host.container.appendChild(el);
    }
    el.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  }

  highlight(x: number, y: number, w: number, hgt: number): void {
    const el = h('div', { className: 'highlight', attrs: { 'data-cobrowse-highlight': '', 'aria-hidden': 'true' } });
    el.style.left = `${x}px`;
    el.style.top = `${y}px`;
    el.style.width = `${Math.max(0, w)}px`;
    el.style.height = `${Math.max(0, hgt)}px`;
    this.host.container.appendChild(el);
    setTimeout(() => (el.style.opacity = '0'), HIGHLIGHT_MS);
    setTimeout(() => el.remove(), HIGHLIGHT_MS + 700);
  }

  remove(agentId: string): void {
    this.pointers.get(agentId)?.remove();
    this.pointers.delete(agentId);
  }

  clear(): void {
    for (const el of this.pointers.values()) el.remove();
    this.pointers.clear();
  }
}
