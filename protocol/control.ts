/**
 * Text frames: JSON control messages `{"t": "<type>", ...}`. One schema per type and
 * direction; anything else is a bad message. See docs/protocol.md.
 */
import { validate, type Schema } from './schema.ts';
import type { ControlRefusal } from './sensitiveField.ts';
import { E2E_KEY_TOKEN_MAX_CHARS, E2E_PUBLIC_KEY_CHARS, E2E_SEALED_MAX_CHARS, type E2eMode } from './e2e.ts';

/** Largest accepted text frame, in bytes. Control messages are small by design. */
export const MAX_CONTROL_BYTES = 8 * 1024;

export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const id = { type: 'string', max: 64, pattern: ID_PATTERN } as const;
const coord = { type: 'number', min: -1e6, max: 1e7 } as const;

/** Longest `page` URL and title (the embed cuts them to fit before sending). */
export const PAGE_URL_MAX_CHARS = 2048;
export const PAGE_TITLE_MAX_CHARS = 512;
/** Longest `identify` user id and name, and email (RFC 5321's path limit). */
export const IDENTIFY_MAX_CHARS = 256;
export const EMAIL_MAX_CHARS = 254;

// ---- visitor -> relay
export interface PageMsg { t: 'page'; url: string; title: string }
/**
 * Why the embed ended sharing or refused without the visitor's answer: `ui_hidden` = the page hid,
 * covered or removed the consent prompt or the sharing bar, so nothing may be shared.
 */
export const UI_HIDDEN = 'ui_hidden';
/** The embed would not share with this agent: its end-to-end key was missing or failed verification. */
export const KEY_REFUSED = 'key_refused';
export type VisitorEndReason = typeof UI_HIDDEN | typeof KEY_REFUSED;
export interface ConsentMsg { t: 'consent'; agentId: string; allow: boolean; reason?: VisitorEndReason }
/** The visitor grants or revokes remote control for one agent. */
export interface ControlMsg { t: 'control'; agentId: string; allow: boolean }
/** The visitor stops sharing with one agent, or with every agent when agentId is absent. */
export interface EndMsg { t: 'end'; agentId?: string; reason?: VisitorEndReason }
/** `identify()` from the customer's page: stored as visitor metadata (README, "Data we keep"). */
export interface IdentifyMsg { t: 'identify'; userId?: string; name?: string; email?: string }
/** Ask for a 6-digit lookup code the visitor can read out to an agent. */
export interface CodeRequestMsg { t: 'code-request' }
/** The visitor's own erasure request (`forget()`), authorised by its visitor token. */
export interface ForgetMsg { t: 'forget' }
/** The visitor switched to (or is using) this tab: the agents watching another of their tabs follow. */
export interface TabActiveMsg { t: 'tab-active' }
/** The embed refused an agent's click or typing (a password or card field, another origin…): that agent is told why. */
export interface ControlRefusedMsg { t: 'control-refused'; agentId: string; action: 'click' | 'input' | 'scroll'; reason: ControlRefusal }
/**
 * The tab's current content key, wrapped for one agent's viewer (protocol/e2e.ts): routed by the
 * relay to that agent's sockets whose public key is `agentKey`, and to no one else.
 */
export interface E2eKeyMsg { t: 'e2e-key'; agentId: string; agentKey: string; embedKey: string; keyId: number; iv: string; wrapped: string }
export type VisitorToRelay = PageMsg | ConsentMsg | ControlMsg | EndMsg | IdentifyMsg | CodeRequestMsg | ForgetMsg | TabActiveMsg | ControlRefusedMsg | E2eKeyMsg;

// ---- agent -> relay
/** `key`: the viewer's ECDH P-256 public key for this session (E2E); `keyToken`: a customer-signed JWT binding it (cnf.jkt). */
export interface JoinMsg { t: 'join'; visitorId: string; tabId?: string; key?: string; keyToken?: string }
export interface LeaveMsg { t: 'leave' }
export interface ResyncRequestMsg { t: 'resync' }
export interface PointerMsg { t: 'pointer'; x: number; y: number }
export interface HighlightMsg { t: 'highlight'; x: number; y: number; w: number; h: number }
export interface ScrollMsg { t: 'scroll'; x: number; y: number }
export interface ClickMsg { t: 'click'; x: number; y: number }
/** Typing into the node with this rrweb mirror id. */
/** Typing into the node with this rrweb mirror id; with E2E, `value` is empty and `sealed` carries it encrypted. */
export interface InputMsg { t: 'input'; nodeId: number; value: string; sealed?: string }
export interface ControlRequestMsg { t: 'control-request' }
export type AgentToRelay =
  | JoinMsg | LeaveMsg | ResyncRequestMsg | PointerMsg | HighlightMsg | ScrollMsg | ClickMsg | InputMsg | ControlRequestMsg;

/** Agent messages the relay forwards to the visitor's tab, with `agentId` attached. */
export const AGENT_TOOL_TYPES = new Set(['pointer', 'highlight', 'scroll', 'click', 'input', 'control-request']);
/** Of those, the ones that act on the page and need the visitor's grant. */
export const CONTROL_ONLY_TYPES = new Set(['click', 'input']);

// ---- relay -> visitor
/** `e2e`: the account's setting (protocol/e2e.ts); absent from older relays = off. */
/** `maxFrameBytes`: the relay's frame limit (MAX_PAYLOAD_BYTES), sent only when it is not the default. */
export interface WelcomeMsg { t: 'welcome'; visitorId: string; visitorToken: string; tabId: string; e2e?: E2eMode; maxFrameBytes?: number }
/** The agent as the relay presents it; `key`/`keyToken` as its viewer sent them with `join`. */
export interface AgentInfo { id: string; name: string; key?: string; keyToken?: string }
export interface ConsentRequestMsg { t: 'consent-request'; agent: AgentInfo }
export interface SnapshotRequestMsg { t: 'snapshot-request' }
/** An agent is now watching this tab (sent with or without a consent prompt). */
export interface AgentJoinedMsg { t: 'agent-joined'; agent: AgentInfo }
/** `ended`: the agent ended the session (End session, or closed the viewer); otherwise its connection went. */
export interface AgentLeftMsg { t: 'agent-left'; agentId: string; reason?: 'ended' | 'disconnected' | 'moved' }
export interface CodeMsg { t: 'code'; code: string; expiresAt: string }
export type AgentToolForVisitor = (PointerMsg | HighlightMsg | ScrollMsg | ClickMsg | InputMsg | ControlRequestMsg) & {
  agentId: string;
};

export type RelayToVisitor =
  | WelcomeMsg | ConsentRequestMsg | SnapshotRequestMsg | AgentJoinedMsg | AgentLeftMsg | CodeMsg | AgentToolForVisitor | ErrorMsg;

// ---- relay -> agent
/** `pageOrigins`: the account's allowed page origins; the viewer lets the replayed page load only from these. */
export interface ReadyMsg { t: 'ready'; agentId: string; accountId: string; pageOrigins: string[] }
export interface JoinedMsg { t: 'joined'; visitorId: string; tabId: string; url: string; title: string }
export interface RefusedMsg { t: 'refused'; visitorId: string; reason: 'denied' | 'not_found' | VisitorEndReason }
/** The visitor is online and is being asked (or must be asked again, e.g. after a relay restart). */
export interface ConsentPendingMsg { t: 'consent-pending'; visitorId: string }
export interface VisitorLeftMsg { t: 'visitor-left'; visitorId: string; tabId: string }
export interface EndedMsg { t: 'ended'; visitorId: string; reason: 'visitor_stopped' | 'gone' | VisitorEndReason }
export interface PageChangedMsg { t: 'page'; visitorId: string; tabId: string; url: string; title: string }
export interface ControlStateMsg { t: 'control'; visitorId: string; allow: boolean }
/** Your stream had a gap (you were too slow): discard until the next full snapshot. */
export interface ResyncMsg { t: 'resync' }
/** Cluster mode: your relay lost the visitor's relay (NATS down); the session resumes by itself. */
export interface ReconnectingMsg { t: 'reconnecting'; visitorId: string }
/** The visitor's page refused your click or typing, and why. */
export interface ControlRefusedForAgentMsg { t: 'control-refused'; visitorId: string; action: 'click' | 'input' | 'scroll'; reason: ControlRefusal }
/** The visitor's content key for this tab, wrapped for this viewer's key (E2eKeyMsg without the routing fields). */
export interface E2eKeyForAgentMsg { t: 'e2e-key'; visitorId: string; tabId: string; embedKey: string; keyId: number; iv: string; wrapped: string }

// ---- relay -> either
/** `retryAfterMs`: with close 4503 `try_again_later`, how long to wait before reconnecting. */
export interface ErrorMsg { t: 'error'; code: string; message: string; retryAfterMs?: number }

export type RelayToAgent =
  | ReadyMsg | JoinedMsg | RefusedMsg | ConsentPendingMsg | VisitorLeftMsg | EndedMsg | PageChangedMsg | ControlStateMsg | ResyncMsg | ControlRefusedForAgentMsg | E2eKeyForAgentMsg | ErrorMsg
  | ReconnectingMsg;

const endReason = { type: 'string', max: 16, pattern: /^(ui_hidden|key_refused)$/, optional: true } as const;
const publicKey = { type: 'string', min: E2E_PUBLIC_KEY_CHARS, max: E2E_PUBLIC_KEY_CHARS, pattern: /^[A-Za-z0-9_-]+$/ } as const;
const b64 = (max: number) => ({ type: 'string', min: 1, max, pattern: /^[A-Za-z0-9_-]+$/ }) as const;

const visitorSchemas: Record<string, Schema> = {
  page: { url: { type: 'string', max: PAGE_URL_MAX_CHARS }, title: { type: 'string', max: PAGE_TITLE_MAX_CHARS } },
  consent: { agentId: id, allow: { type: 'boolean' }, reason: endReason },
  control: { agentId: id, allow: { type: 'boolean' } },
  end: { agentId: { ...id, optional: true }, reason: endReason },
  identify: {
    userId: { type: 'string', min: 1, max: IDENTIFY_MAX_CHARS, optional: true },
    name: { type: 'string', max: IDENTIFY_MAX_CHARS, optional: true },
    email: { type: 'string', max: EMAIL_MAX_CHARS, pattern: /^[^@\s]+@[^@\s]+$/, optional: true },
  },
  'code-request': {},
  forget: {},
  'tab-active': {},
  'control-refused': {
    agentId: id,
    action: { type: 'string', max: 8, pattern: /^(click|input|scroll)$/ },
    reason: { type: 'string', max: 16, pattern: /^(sensitive_field|off_origin|not_editable|no_target|not_granted)$/ },
  },
  'e2e-key': { agentId: id, agentKey: publicKey, embedKey: publicKey, keyId: { type: 'int', min: 0, max: 2 ** 32 - 1 }, iv: b64(16), wrapped: b64(64) },
};

const agentSchemas: Record<string, Schema> = {
  join: { visitorId: id, tabId: { ...id, optional: true }, key: { ...publicKey, optional: true }, keyToken: { type: 'string', max: E2E_KEY_TOKEN_MAX_CHARS, pattern: /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, optional: true } },
  leave: {},
  resync: {},
  pointer: { x: coord, y: coord },
  highlight: { x: coord, y: coord, w: coord, h: coord },
  scroll: { x: coord, y: coord },
  click: { x: coord, y: coord },
  input: { nodeId: { type: 'int', min: 0, max: 2 ** 31 }, value: { type: 'string', max: 4096 }, sealed: { ...b64(E2E_SEALED_MAX_CHARS), optional: true } },
  'control-request': {},
};

export type ParseResult<T> = { ok: true; msg: T } | { ok: false; message: string };

function parseWith<T>(text: string, schemas: Record<string, Schema>): ParseResult<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: 'malformed JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'a control message must be a JSON object' };
  }
  const { t, ...rest } = value as Record<string, unknown>;
  if (typeof t !== 'string' || !Object.hasOwn(schemas, t)) {
    return { ok: false, message: `unknown message type ${JSON.stringify(String(t)).slice(0, 40)}` };
  }
  const result = validate(rest, schemas[t]);
  if (!result.ok) return { ok: false, message: `${t}: ${result.message}` };
  return { ok: true, msg: value as T };
}

export function parseVisitorMessage(text: string): ParseResult<VisitorToRelay> {
  return parseWith<VisitorToRelay>(text, visitorSchemas);
}

export function parseAgentMessage(text: string): ParseResult<AgentToRelay> {
  return parseWith<AgentToRelay>(text, agentSchemas);
}
