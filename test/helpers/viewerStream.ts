/** Hand-built rrweb event streams (serialized nodes, frames) for viewer tests and the hostile-stream test. */
import zlib from 'node:zlib';
import { encodeFrame, FrameKind } from '../../protocol/frames.ts';

export type SNode = Record<string, unknown>;

/** Builds rrweb-snapshot serialized nodes with fresh ids. */
export class NodeBuilder {
  private next = 1;
  id(): number {
    return this.next++;
  }
  el(tagName: string, attributes: Record<string, unknown> = {}, childNodes: SNode[] = [], extra: Record<string, unknown> = {}): SNode {
    return { type: 2, tagName, attributes, childNodes, id: this.id(), ...extra };
  }
  text(textContent: string, extra: Record<string, unknown> = {}): SNode {
    return { type: 3, textContent, id: this.id(), ...extra };
  }
  doc(head: SNode[], body: SNode[], bodyAttrs: Record<string, unknown> = {}): SNode {
    return {
      type: 0,
      id: this.id(),
      childNodes: [{ type: 1, name: 'html', publicId: '', systemId: '', id: this.id() }, this.el('html', {}, [this.el('head', {}, head), this.el('body', bodyAttrs, body)])],
    };
  }
}

/** A full-snapshot frame: Meta + FullSnapshot, optionally deflate-raw compressed (kind 3). */
export function fullFrame(node: SNode, opts: { width?: number; height?: number; compress?: boolean; now?: number } = {}): Uint8Array {
  const now = opts.now ?? Date.now();
  const events = [
    { type: 4, data: { href: 'https://shop.example.com/hostile', width: opts.width ?? 800, height: opts.height ?? 600 }, timestamp: now },
    { type: 2, data: { node, initialOffset: { top: 0, left: 0 } }, timestamp: now },
  ];
  return frameOf(events, true, opts.compress ?? false);
}

/** An incremental frame (kind 2, or 4 compressed) carrying these events. */
export function incrementalFrame(events: unknown[], compress = false): Uint8Array {
  return frameOf(events, false, compress);
}

function frameOf(events: unknown[], full: boolean, compress: boolean): Uint8Array {
  const json = Buffer.from(JSON.stringify(events));
  const payload = compress ? zlib.deflateRawSync(json) : json;
  const kind = full ? (compress ? FrameKind.FullSnapshotDeflate : FrameKind.FullSnapshot) : compress ? FrameKind.IncrementalDeflate : FrameKind.Incremental;
  return encodeFrame(kind, payload);
}

/** An rrweb mutation event. */
export function mutation(data: { adds?: unknown[]; attributes?: unknown[]; texts?: unknown[]; removes?: unknown[] }, now = Date.now()): unknown {
  return { type: 3, data: { source: 0, adds: data.adds ?? [], attributes: data.attributes ?? [], texts: data.texts ?? [], removes: data.removes ?? [] }, timestamp: now };
}
