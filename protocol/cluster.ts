/**
 * Cluster mode's wire between relays (over NATS): subjects, the JetStream KV buckets and keys, the
 * control envelope (validated on receipt like any client input) and the frame chunk header. Relays
 * only; no browser ever sees these. docs/cluster.md explains the design.
 */
import { KEY_REFUSED, MAX_CONTROL_BYTES, UI_HIDDEN, type VisitorEndReason } from './control.ts';
import { validate, type Schema } from './schema.ts';

/** Node ids and the ids inside subjects and keys: NATS subject tokens, never `.`, `*`, `>`. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const nodeId = { type: 'string', max: 64, pattern: NODE_ID_PATTERN } as const;
const ident = { type: 'string', max: 64, pattern: /^[A-Za-z0-9_-]{1,64}$/ } as const;
/** A tab topic as the relay builds it: `tab/<account>/<visitor>/<tab>`. */
const topic = { type: 'string', max: 200, pattern: /^tab\/[A-Za-z0-9_-]{1,64}\/[A-Za-z0-9_-]{1,64}\/[A-Za-z0-9_-]{1,64}$/ } as const;

/** Everything addressed to one relay (envelopes and frame chunks, in one order): `cobrowse.node.<id>`. */
export function nodeSubject(node: string): string {
  return `cobrowse.node.${node}`;
}
/** What every relay hears: erasures, rotations, tab switches. */
export const BROADCAST_SUBJECT = 'cobrowse.all';

/** JetStream KV (memory storage): which tabs are online where, and the relays' heartbeats. */
export const PRESENCE_BUCKET = 'cobrowse-presence';
/** JetStream KV (memory storage): lookup codes claimed with `create`, unique across the cluster. */
export const CODES_BUCKET = 'cobrowse-codes';
/** JetStream KV (memory storage): consent an agent holds for a visitor, for every relay. */
export const CONSENT_BUCKET = 'cobrowse-consent';

export const presenceTabKey = (accountId: string, visitorId: string, tabId: string) => `tab.${accountId}.${visitorId}.${tabId}`;
export const presenceNodeKey = (node: string) => `node.${node}`;
export const codeKey = (accountId: string, code: string) => `${accountId}.${code}`;
export const consentKey = (accountId: string, visitorId: string, agentId: string) => `${accountId}.${visitorId}.${agentId}`;

/** A relay re-announces itself this often; one not heard from for NODE_DEAD_MS is gone, with its tabs. */
export const NODE_HEARTBEAT_MS = 1000;
export const NODE_DEAD_MS = 5000;
/**
 * Tabs are re-put this often, only so that the bucket's max age (PRESENCE_MAX_AGE_MS) clears a dead
 * relay's keys from NATS; liveness comes from the relay's heartbeat. A put costs a JetStream ack
 * (~1,800 puts/s on 2 cores, bench/RESULTS.md), so 30,000 tabs re-put every 5 min is 100 puts/s.
 */
export const TAB_REFRESH_MS = 5 * 60_000;
export const PRESENCE_MAX_AGE_MS = 15 * 60_000;

/** A presence entry for one tab. `userKey`/`emailKey` are keyed hashes, never the values. */
export interface PresenceTab {
  node: string;
  url: string;
  userKey?: string;
  emailKey?: string;
}
const presenceTabSchema: Schema = {
  node: nodeId,
  url: { type: 'string', max: 2048 },
  userKey: { type: 'string', max: 64, optional: true },
  emailKey: { type: 'string', max: 64, optional: true },
};
export function parsePresenceTab(value: unknown): PresenceTab | undefined {
  return validate(value, presenceTabSchema).ok ? (value as PresenceTab) : undefined;
}

/** The agent socket a remote relay acts for: `sid` names the socket on its home relay. */
export interface RemoteAgentRef {
  sid: string;
  accountId: string;
  agentId: string;
  name: string;
  ip: string;
  exp: number;
}

/**
 * Control envelopes. `agent-msg` carries any agent control message unchanged (the receiver
 * validates it again with parseAgentMessage), `to-agent` any relay→agent message as text, so new
 * control message types cross relays without a change here.
 */
export type ClusterEnvelope =
  | { op: 'agent-msg'; from: string; agent: RemoteAgentRef; msg: Record<string, unknown> }
  | { op: 'agent-gone'; from: string; sid: string }
  | { op: 'to-agent'; from: string; sid: string; text: string }
  | { op: 'watch' | 'unwatch'; from: string; sid: string; topic: string }
  | { op: 'close-agent'; from: string; sid: string; code: number; message: string }
  | { op: 'resync'; from: string; topic: string }
  | { op: 'end-visitors'; from: string; accountId: string; visitorIds: string[] }
  /** The visitor ended sharing (with one agent, or all) on `from`: every relay ends those agents and their consent. */
  | { op: 'end-agents'; from: string; accountId: string; visitorId: string; agentId?: string; reason?: VisitorEndReason }
  | { op: 'rotated'; from: string; accountId: string }
  | { op: 'tab-active'; from: string; accountId: string; visitorId: string; tabId: string }
  /** To an agent's relay: the visitor it follows came back on `node` (a navigation landed there). */
  | { op: 'follow'; from: string; sid: string; node: string; visitorId: string; tabId: string };
export type ClusterOp = ClusterEnvelope['op'];

/** Largest envelope accepted: an erasure's 1000 ids fit, a control message many times over. */
export const MAX_ENVELOPE_BYTES = 128 * 1024;

const agentRef = {
  type: 'object',
  fields: {
    sid: ident, accountId: ident, agentId: ident,
    name: { type: 'string', max: 256 },
    ip: { type: 'string', max: 64 },
    exp: { type: 'int', min: 0, max: 2 ** 40 },
  },
} as const;

const envelopeSchemas: Record<ClusterOp, Schema> = {
  'agent-msg': { from: nodeId, agent: agentRef },
  'agent-gone': { from: nodeId, sid: ident },
  'to-agent': { from: nodeId, sid: ident, text: { type: 'string', max: MAX_CONTROL_BYTES * 4 } },
  watch: { from: nodeId, sid: ident, topic },
  unwatch: { from: nodeId, sid: ident, topic },
  'close-agent': { from: nodeId, sid: ident, code: { type: 'int', min: 1000, max: 4999 }, message: { type: 'string', max: 256 } },
  resync: { from: nodeId, topic },
  'end-visitors': { from: nodeId, accountId: ident, visitorIds: { type: 'array', max: 1000, items: ident } },
  'end-agents': {
    from: nodeId, accountId: ident, visitorId: ident,
    agentId: { ...ident, optional: true },
    reason: { type: 'string', max: 32, pattern: new RegExp(`^(${UI_HIDDEN}|${KEY_REFUSED})$`), optional: true },
  },
  rotated: { from: nodeId, accountId: ident },
  'tab-active': { from: nodeId, accountId: ident, visitorId: ident, tabId: ident },
  follow: { from: nodeId, sid: ident, node: nodeId, visitorId: ident, tabId: ident },
};

export type EnvelopeResult = { ok: true; env: ClusterEnvelope } | { ok: false; message: string };

/** Validates an envelope's JSON text. `agent-msg`'s `msg` is only checked to be an object here. */
export function parseEnvelope(text: string): EnvelopeResult {
  if (text.length > MAX_ENVELOPE_BYTES) return { ok: false, message: 'envelope too big' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: 'malformed JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, message: 'an envelope must be a JSON object' };
  const { op, msg, ...rest } = value as Record<string, unknown>;
  if (typeof op !== 'string' || !Object.hasOwn(envelopeSchemas, op)) return { ok: false, message: `unknown op ${JSON.stringify(String(op)).slice(0, 40)}` };
  const schema = envelopeSchemas[op as ClusterOp];
  if (op === 'agent-msg') {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return { ok: false, message: 'agent-msg: msg must be an object' };
  } else if (msg !== undefined) return { ok: false, message: 'unknown field msg' };
  const r = validate(rest, schema);
  if (!r.ok) return { ok: false, message: `${op}: ${r.message}` };
  return { ok: true, env: value as ClusterEnvelope };
}

// ---- messages on a node subject: byte 0 says which

export const NodeMsgKind = { Envelope: 1, FrameChunk: 2 } as const;
// UTF-8 (topics are ASCII by their pattern); protocol/ uses no Node built-ins.
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ascii = { encode: (s: string) => encoder.encode(s), decode: (b: Uint8Array) => decoder.decode(b) };

/** An envelope's JSON text from a node-subject message (byte 0 = NodeMsgKind.Envelope). */
export function envelopeText(msg: Uint8Array): string {
  return ascii.decode(msg.subarray(1));
}

/**
 * A frame (or a tab's `page` text) relayed to a watching relay, cut into chunks under NATS's
 * max_payload. Header (big-endian): kind u8 = 2 | flags u8 (bit 0: binary) | seq u32 | index u16 |
 * count u16 | topic length u8 | source length u8 | topic | source node id | the frame's bytes. The
 * receiver joins the chunks of one (source, seq) in order, verbatim.
 */
export interface ChunkHeader {
  binary: boolean;
  seq: number;
  index: number;
  count: number;
  topic: string;
  /** The sending relay's node id. */
  from: string;
}
export const CHUNK_FIXED_HEADER_BYTES = 12;
export const MAX_CHUNKS = 65_535;

export function encodeChunk(h: ChunkHeader, data: Uint8Array): Uint8Array {
  const t = ascii.encode(h.topic);
  const f = ascii.encode(h.from);
  if (t.length > 255 || f.length > 255) throw new Error('topic or node id too long');
  const head = CHUNK_FIXED_HEADER_BYTES + t.length + f.length;
  const out = new Uint8Array(head + data.byteLength);
  const dv = new DataView(out.buffer);
  out[0] = NodeMsgKind.FrameChunk;
  out[1] = h.binary ? 1 : 0;
  dv.setUint32(2, h.seq >>> 0);
  dv.setUint16(6, h.index);
  dv.setUint16(8, h.count);
  out[10] = t.length;
  out[11] = f.length;
  out.set(t, CHUNK_FIXED_HEADER_BYTES);
  out.set(f, CHUNK_FIXED_HEADER_BYTES + t.length);
  out.set(data, head);
  return out;
}

export type ChunkResult = { ok: true; header: ChunkHeader; data: Uint8Array } | { ok: false; message: string };

/** Reads a chunk's header; `data` is a view into `msg` (no copy). */
export function decodeChunk(msg: Uint8Array): ChunkResult {
  if (msg.byteLength < CHUNK_FIXED_HEADER_BYTES || msg[0] !== NodeMsgKind.FrameChunk) return { ok: false, message: 'not a chunk' };
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const flags = msg[1];
  const seq = dv.getUint32(2);
  const index = dv.getUint16(6);
  const count = dv.getUint16(8);
  const tlen = msg[10];
  const flen = msg[11];
  const head = CHUNK_FIXED_HEADER_BYTES + tlen + flen;
  if (flags > 1 || count === 0 || index >= count || msg.byteLength < head) return { ok: false, message: 'bad chunk header' };
  const topicText = ascii.decode(msg.subarray(CHUNK_FIXED_HEADER_BYTES, CHUNK_FIXED_HEADER_BYTES + tlen));
  const from = ascii.decode(msg.subarray(CHUNK_FIXED_HEADER_BYTES + tlen, head));
  if (!topic.pattern.test(topicText) || !NODE_ID_PATTERN.test(from)) return { ok: false, message: 'bad chunk topic or source' };
  return { ok: true, header: { binary: flags === 1, seq, index, count, topic: topicText, from }, data: msg.subarray(head) };
}

/** An envelope as a node-subject message: kind byte 1, then the JSON. */
export function encodeEnvelope(env: ClusterEnvelope): Uint8Array {
  const json = ascii.encode(JSON.stringify(env));
  const out = new Uint8Array(json.length + 1);
  out[0] = NodeMsgKind.Envelope;
  out.set(json, 1);
  return out;
}
