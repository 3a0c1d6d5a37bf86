/**
 * Messages between relays: one subject per relay (envelopes and frame chunks in one order, so a
 * `watch` always precedes the frames it asks for) and one broadcast subject. What arrives is
 * validated like client input: a malformed envelope or chunk is dropped and counted, never thrown.
 *
 * Bounded both ways: bytes published and not yet confirmed by a NATS flush are capped
 * (CLUSTER_MAX_PENDING_BYTES): past it frames are dropped (counted) and the watching relay is told to
 * resync; a source can make this relay hold at most one frame being reassembled.
 */
import type { Msg, Subscription } from 'nats';
import {
  BROADCAST_SUBJECT, decodeChunk, encodeEnvelope, envelopeText, NodeMsgKind, nodeSubject, parseEnvelope,
  type ClusterEnvelope,
} from '../../protocol/cluster.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { Reassembler, splitFrame, type WholeFrame } from './chunks.ts';
import type { ClusterConnection } from './connection.ts';

/** Envelope types without `from` (the bus adds it). */
type Outgoing<E> = E extends ClusterEnvelope ? Omit<E, 'from'> : never;
export type OutgoingEnvelope = Outgoing<ClusterEnvelope>;

export interface BusHandlers {
  envelope(env: ClusterEnvelope): void;
  frame(frame: WholeFrame, from: string): void;
  /** Frames of this topic from `from` were lost (a gap): its watchers must resync. */
  lost(topic: string, from: string): void;
  /** This relay dropped frames of its own tab for a watching relay: the tab must send a fresh snapshot. */
  gapped(topic: string): void;
}

/** Room for chunk headers under max_payload. */
const CHUNK_HEADROOM = 1024;
const MAX_SOURCES = 1024;
const CONFIRM_EVERY_MS = 10;

export class ClusterBus {
  private subs: Subscription[] = [];
  private seq = 0;
  private readonly sources = new Map<string, Reassembler>();
  /** Bytes published since the last completed flush. */
  private unconfirmed = 0;
  private flushing = false;
  /** Topics (per destination) that lost frames here, told to resync once there is room again. */
  private readonly gaps = new Set<string>();

  constructor(
    private readonly conn: ClusterConnection,
    private readonly nodeId: string,
    private readonly maxFrameBytes: number,
    private readonly maxPendingBytes: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly handlers: BusHandlers,
  ) {}

  start(): void {
    const nc = this.conn.nc;
    const cb = (err: Error | null, msg: Msg) => {
      if (err) return;
      try {
        this.receive(msg.data);
      } catch (e) {
        this.metrics.counters.cluster_bad_messages_total++;
        this.log.error({ err: (e as Error).message }, 'cluster message handler failed');
      }
    };
    this.subs.push(nc.subscribe(nodeSubject(this.nodeId), { callback: cb }));
    this.subs.push(nc.subscribe(BROADCAST_SUBJECT, { callback: cb }));
    // Chunks in flight across a reconnect may be lost: start every source afresh.
    this.conn.onChange((up) => {
      if (!up) return;
      // Watchers that missed frames while NATS was away resync now, not at the tab's next frame.
      for (const key of [...this.gaps]) {
        const [node, topic] = key.split('\0');
        this.gaps.delete(key);
        this.send(node, { op: 'resync', topic });
        this.handlers.gapped(topic);
      }
      for (const [from, r] of this.sources) {
        const topic = r.reset();
        if (topic) this.handlers.lost(topic, from);
      }
    });
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  get pendingBytes(): number {
    let held = 0;
    for (const r of this.sources.values()) held += r.pendingBytes;
    return held;
  }

  get unconfirmedBytes(): number {
    return this.unconfirmed;
  }

  send(node: string, env: OutgoingEnvelope): boolean {
    return this.publish(nodeSubject(node), encodeEnvelope({ ...env, from: this.nodeId } as ClusterEnvelope));
  }

  broadcast(env: OutgoingEnvelope): boolean {
    return this.publish(BROADCAST_SUBJECT, encodeEnvelope({ ...env, from: this.nodeId } as ClusterEnvelope));
  }

  /** One frame to one relay, in chunks. False when dropped (NATS down or the pending cap reached). */
  sendFrame(node: string, topic: string, data: Uint8Array, binary: boolean): boolean {
    const gapKey = `${node}\0${topic}`;
    if (!this.conn.up || this.unconfirmed + data.byteLength > this.maxPendingBytes) {
      this.metrics.counters.cluster_frames_dropped_total++;
      this.gaps.add(gapKey);
      return false;
    }
    if (this.gaps.delete(gapKey)) {
      this.send(node, { op: 'resync', topic });
      this.handlers.gapped(topic);
    }
    const chunks = splitFrame(this.nodeId, topic, (this.seq = (this.seq + 1) >>> 0), data, binary, this.conn.maxPayload() - CHUNK_HEADROOM);
    const subject = nodeSubject(node);
    for (const c of chunks) this.publish(subject, c);
    this.metrics.counters.cluster_frames_out_total++;
    this.metrics.counters.cluster_frame_bytes_out_total += data.byteLength;
    return true;
  }

  private publish(subject: string, data: Uint8Array): boolean {
    if (!this.conn.up) {
      this.metrics.counters.cluster_messages_dropped_total++;
      return false;
    }
    try {
      this.conn.nc.publish(subject, data);
    } catch {
      this.metrics.counters.cluster_messages_dropped_total++;
      return false;
    }
    this.unconfirmed += data.byteLength;
    this.metrics.gauges.cluster_unconfirmed_bytes = this.unconfirmed;
    this.confirm();
    return true;
  }

  /**
   * A flush round-trip confirms everything published before it left this process. One at a time,
   * started at most every CONFIRM_EVERY_MS: a PING per publish would cost more than the publish.
   */
  private confirm(): void {
    if (this.flushing) return;
    this.flushing = true;
    setTimeout(() => this.flushNow(), CONFIRM_EVERY_MS).unref();
  }

  private flushNow(): void {
    const upTo = this.unconfirmed;
    this.conn.nc.flush().then(
      () => {
        this.unconfirmed = Math.max(0, this.unconfirmed - upTo);
        this.metrics.gauges.cluster_unconfirmed_bytes = this.unconfirmed;
        this.flushing = false;
        if (this.unconfirmed > 0) this.confirm();
      },
      () => {
        // Connection lost: what was buffered is gone or will be resent; start counting afresh.
        this.unconfirmed = 0;
        this.flushing = false;
      },
    );
  }

  private receive(data: Uint8Array): void {
    if (data.byteLength === 0) return this.bad('empty message');
    if (data[0] === NodeMsgKind.Envelope) {
      const r = parseEnvelope(envelopeText(data));
      if (!r.ok) return this.bad(r.message);
      if (r.env.from === this.nodeId) return; // our own broadcast
      this.metrics.counters.cluster_envelopes_in_total++;
      return this.handlers.envelope(r.env);
    }
    if (data[0] !== NodeMsgKind.FrameChunk) return this.bad('unknown message kind');
    const c = decodeChunk(data);
    if (!c.ok) return this.bad(c.message);
    const from = c.header.from;
    // The map's order is least recently heard first (re-inserted on every chunk).
    let r = this.sources.get(from);
    if (r) this.sources.delete(from);
    else {
      r = new Reassembler(this.maxFrameBytes);
      for (const [old] of this.sources) {
        if (this.sources.size < MAX_SOURCES) break;
        this.evict(old);
      }
    }
    this.sources.set(from, r);
    const got = r.accept(c.header, c.data);
    if (got.dropped) {
      this.metrics.counters.cluster_chunks_dropped_total++;
      if (got.dropped.topic) this.handlers.lost(got.dropped.topic, from);
    }
    // `from` is an unauthenticated header field: the total held across sources is capped too, the
    // least recently heard sources' frames in progress dropped first (their watchers resync).
    let total = this.pendingBytes;
    for (const [old, o] of this.sources) {
      if (total <= this.maxReassemblyBytes) break;
      if (old === from) continue;
      total -= o.pendingBytes;
      this.evict(old);
    }
    if (got.done) {
      this.metrics.counters.cluster_frames_in_total++;
      this.handlers.frame(got.frame, c.header.from);
    }
  }

  /** Most bytes held in reassembly across all sources. */
  get maxReassemblyBytes(): number {
    return 2 * this.maxFrameBytes;
  }

  /** Forgets a source; its frame in progress, if any, is lost (the topic's watchers resync). */
  private evict(from: string): void {
    const topic = this.sources.get(from)?.reset();
    this.sources.delete(from);
    if (!topic) return;
    this.metrics.counters.cluster_chunks_dropped_total++;
    this.handlers.lost(topic, from);
  }

  private bad(why: string): void {
    this.metrics.counters.cluster_bad_messages_total++;
    this.log.debug({ why }, 'cluster message dropped');
  }
}
