/**
 * Frames cross relays in chunks under NATS's max_payload (1 MB by default; frames go to 16 MiB):
 * cut on the visitor's relay, joined verbatim on the watching relay. A relay publishes all chunks
 * of one frame in one synchronous loop, so on the receiving side the chunks from one relay arrive
 * contiguous and in order; anything else (a lost chunk after a NATS reconnect, a forged header) is
 * dropped and counted, and the caller resyncs the topic's agents.
 */
import { encodeChunk, MAX_CHUNKS, type ChunkHeader } from '../../protocol/cluster.ts';

/** The node-subject messages carrying one frame. Small frames are one chunk (one copy, header + bytes). */
export function splitFrame(from: string, topic: string, seq: number, data: Uint8Array, binary: boolean, maxChunkBytes: number): Uint8Array[] {
  const size = Math.max(1, maxChunkBytes);
  const count = Math.max(1, Math.ceil(data.byteLength / size));
  if (count > MAX_CHUNKS) throw new Error(`frame of ${data.byteLength} bytes needs more than ${MAX_CHUNKS} chunks`);
  const out: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    out.push(encodeChunk({ binary, seq, index, count, topic, from }, data.subarray(index * size, Math.min(data.byteLength, (index + 1) * size))));
  }
  return out;
}

export interface WholeFrame {
  topic: string;
  binary: boolean;
  data: Uint8Array;
}

export interface Dropped {
  topic?: string;
  reason: string;
}
/** `dropped`: an earlier frame that will never complete (its topic's watchers must resync). */
export type Accepted = { done: true; frame: WholeFrame; dropped?: Dropped } | { done: false; dropped?: Dropped };

/**
 * Joins chunks from one source relay. At most one frame is in progress per source and it may not
 * exceed `maxFrameBytes`, so a source can make this relay hold at most that much.
 */
export class Reassembler {
  private current?: { header: ChunkHeader; parts: Uint8Array[]; bytes: number };

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held for a frame in progress. */
  get pendingBytes(): number {
    return this.current?.bytes ?? 0;
  }

  /** One decoded chunk (protocol/cluster.ts decodeChunk) from this source. */
  accept(h: ChunkHeader, data: Uint8Array): Accepted {
    const cur = this.current;
    if (cur && (h.seq !== cur.header.seq || h.index !== cur.parts.length || h.topic !== cur.header.topic || h.count !== cur.header.count)) {
      // A new frame began before the last one finished: the old one lost a chunk.
      this.current = undefined;
      const lost = cur.header.topic;
      const again = this.accept(h, data);
      return { ...again, dropped: { topic: lost, reason: 'incomplete frame' } };
    }
    if (!cur && h.index !== 0) return { done: false, dropped: { topic: h.topic, reason: 'chunk without its start' } };
    if (h.count === 1) return { done: true, frame: { topic: h.topic, binary: h.binary, data } };
    const held = cur ?? { header: h, parts: [], bytes: 0 };
    held.bytes += data.byteLength;
    if (held.bytes > this.maxFrameBytes) {
      this.current = undefined;
      return { done: false, dropped: { topic: h.topic, reason: 'frame over the size limit' } };
    }
    // Copied: NATS may reuse the buffer a message arrived in.
    held.parts.push(Uint8Array.from(data));
    this.current = held;
    if (held.parts.length < h.count) return { done: false };
    this.current = undefined;
    return { done: true, frame: { topic: h.topic, binary: h.binary, data: Buffer.concat(held.parts, held.bytes) } };
  }

  /** The source went away (or NATS reconnected): whatever was in progress is lost. */
  reset(): string | undefined {
    const topic = this.current?.header.topic;
    this.current = undefined;
    return topic;
  }
}
