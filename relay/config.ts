/** Relay configuration from the environment, validated once at start-up. */
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../protocol/limits.ts';
import os from 'node:os';
import path from 'node:path';
import { NODE_ID_PATTERN } from '../protocol/cluster.ts';
import { MAX_AGENT_TOKEN_LIFETIME_SEC } from './auth/agentToken.ts';
import { normaliseOriginPattern } from './auth/origin.ts';
import { loadSecurityConfig, type SecurityConfig } from './securityConfig.ts';

export interface RelayConfig extends SecurityConfig {
  port: number;
  host: string;
  /** The URL people reach this relay at; its origin is the agent viewer's allowed origin. */
  publicUrl: string;
  dataDir: string;
  mongodbUrl?: string;
  /** HMAC/JWT key for visitor tokens and relay-minted agent tokens; generated into DATA_DIR when unset. */
  relaySecret?: string;
  /** Extra origins allowed to open agent sockets (besides publicUrl's origin). */
  agentOrigins: string[];
  maxPayloadBytes: number;
  /** Per-agent buffered bytes before the agent is resynced (soft limit). */
  agentSoftBackpressure: number;
  /** Sum of all agents' buffered bytes before the biggest are closed. */
  globalBufferedCap: number;
  /** How long an agent may stay behind without draining before it is closed. */
  slowAgentTimeoutMs: number;
  /** How often open agent sockets' key generation is re-checked against the stored secret (≤ 30 s). */
  agentRevocationCheckMs: number;
  /** More resyncs than this within a minute closes the agent. */
  maxResyncsPerMinute: number;
  maxConnectionsPerIp: number;
  visitorMsgsPerSec: number;
  visitorBytesPerSec: number;
  agentMsgsPerSec: number;
  /** REST API requests per second per client IP (burst: 2 s worth). */
  apiRequestsPerSec: number;
  /** Failed REST authentications per minute per client IP; past it, 429 without checking the key. */
  apiAuthFailuresPerMin: number;
  idleTimeoutSec: number;
  agentTokenTtlSec: number;
  /** How long a visitor's consent and followers survive a page navigation (socket gap). */
  visitorGraceMs: number;
  shutdownDeadlineMs: number;
  /** Visitor metadata is removed this many days after the visitor's last activity. */
  retentionDays: number;
  /** Activity log retention in days; 0 (the default) keeps it indefinitely. */
  activityRetentionDays: number;
  /** Peer addresses of proxies whose X-Forwarded-For is believed. */
  trustProxy: string[];
  /** Most visitors with an unwritten update held in memory while the store is slow or down. */
  maxPendingVisitorWrites: number;
  /** Client-caused activity entries (session/control requests, erasures, key rotations) per minute per address / per account. */
  activityPerMinPerIp: number;
  activityPerMinPerAccount: number;
  /** Pending activity entries past which client-caused ones are refused (backpressure; the log never drops). */
  activityBacklogLimit: number;
  /** Client-caused log lines per minute per address / overall; the rest are counted in a suppressed-count line. */
  clientLogLinesPerMinPerIp: number;
  clientLogLinesPerMin: number;
  /** Sockets per minute per address that start a new visitor (each creates a visitor record). */
  newVisitorsPerMinPerIp: number;
  /** Visitor sockets admitted per second (burst as many); over it they are shed with 4503 and a retry-after. */
  admissionsPerSec: number;
  /** Visitor upgrades waiting on the store at once; over it they are shed the same way. */
  maxPendingAdmissions: number;
  /** Each client address's share of admissionsPerSec (burst as many), charged first: over it, shed the same way. */
  admissionsPerSecPerIp: number;
  logLevel: string;
  seedDemo: boolean;
  /** Cluster mode (docs/cluster.md): set, the relay joins the relays on this NATS; unset, it runs alone. */
  natsUrl?: string;
  /**
   * Cluster mode only: let several relay processes on one machine listen on the same port (the kernel
   * spreads connections over them). Otherwise the port is exclusive: a second relay started on it by
   * mistake fails to start instead of silently taking half the visitors and agents, apart.
   */
  reusePort: boolean;
  /** This relay's name in the cluster (NATS subjects, presence). */
  nodeId: string;
  /** Bytes published to NATS and not yet confirmed before frames to other relays are dropped (their agents resync). */
  clusterMaxPendingBytes: number;
  /** Most agents of other relays acting in this relay's sessions. */
  clusterMaxRemoteAgents: number;
  /** How long NATS may take, at start, to open the presence and consent buckets (retried meanwhile). */
  clusterStartTimeoutMs: number;
  /** How often this relay re-puts its visitors' cluster consents (they expire 60 s after the last put). */
  clusterConsentRefreshMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function int(env: NodeJS.ProcessEnv, name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN; // plain decimal only: no 1e1, 0x1E or padding
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function list(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** `1`/`true` or `0`/`false`/unset; anything else is a configuration error. */
function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ConfigError(`${name} must be 1, true, 0 or false, got ${JSON.stringify(env[name])}`);
}

/** A comma-separated origin allow-list, normalised as account origins are (case, default port, IDN). */
function originList(env: NodeJS.ProcessEnv, name: string): string[] {
  return list(env[name]).map((entry) => {
    try {
      return normaliseOriginPattern(entry);
    } catch (err) {
      throw new ConfigError(`${name}: ${(err as Error).message}`);
    }
  });
}

const MiB = 1024 * 1024;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): RelayConfig {
  const port = int(env, 'PORT', 8080, 0, 65535);
  const host = env.HOST || '0.0.0.0';
  const publicUrl = (env.PUBLIC_URL || `http://localhost:${port}`).replace(/\/$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new ConfigError(`PUBLIC_URL is not a URL: ${JSON.stringify(publicUrl)}`);
  }
  const natsUrl = env.NATS_URL || undefined;
  // Every relay must verify the others' visitor and agent tokens: one shared secret, never a per-process file.
  if (natsUrl && !env.RELAY_SECRET) throw new ConfigError('RELAY_SECRET must be set (the same on every relay) when NATS_URL turns cluster mode on');
  const reusePort = flag(env, 'REUSE_PORT');
  if (reusePort && !natsUrl) throw new ConfigError('REUSE_PORT needs cluster mode (NATS_URL): relays sharing a port without it would each see only part of the visitors and agents');
  const nodeId = env.NODE_ID || defaultNodeId();
  if (!NODE_ID_PATTERN.test(nodeId)) throw new ConfigError(`NODE_ID must be 1-64 letters, digits, _ or -, got ${JSON.stringify(nodeId)}`);
  const maxPayloadBytes = int(env, 'MAX_PAYLOAD_BYTES', DEFAULT_MAX_PAYLOAD_BYTES, 64 * 1024, 256 * MiB);
  return {
    port,
    host,
    publicUrl,
    dataDir: path.resolve(env.DATA_DIR || './data'),
    mongodbUrl: env.MONGODB_URL || undefined,
    relaySecret: env.RELAY_SECRET || undefined,
    agentOrigins: originList(env, 'AGENT_ORIGINS'),
    maxPayloadBytes,
    agentSoftBackpressure: int(env, 'AGENT_SOFT_BACKPRESSURE_BYTES', 8 * MiB, 64 * 1024),
    globalBufferedCap: int(env, 'GLOBAL_BUFFERED_CAP_BYTES', 1024 * MiB, MiB),
    slowAgentTimeoutMs: int(env, 'SLOW_AGENT_TIMEOUT_MS', 10_000, 100),
    agentRevocationCheckMs: int(env, 'AGENT_REVOCATION_CHECK_MS', 30_000, 100, 30_000),
    maxResyncsPerMinute: int(env, 'MAX_RESYNCS_PER_MINUTE', 6, 1),
    maxConnectionsPerIp: int(env, 'MAX_CONNECTIONS_PER_IP', 200, 1),
    visitorMsgsPerSec: int(env, 'VISITOR_MSGS_PER_SEC', 200, 1),
    visitorBytesPerSec: int(env, 'VISITOR_BYTES_PER_SEC', 32 * MiB, 1024),
    agentMsgsPerSec: int(env, 'AGENT_MSGS_PER_SEC', 100, 1),
    apiRequestsPerSec: int(env, 'API_REQUESTS_PER_SEC', 100, 1),
    apiAuthFailuresPerMin: int(env, 'API_AUTH_FAILURES_PER_MIN', 20, 1),
    idleTimeoutSec: int(env, 'IDLE_TIMEOUT_SEC', 120, 8, 960),
    agentTokenTtlSec: int(env, 'AGENT_TOKEN_TTL_SEC', 8 * 3600, 60, MAX_AGENT_TOKEN_LIFETIME_SEC),
    visitorGraceMs: int(env, 'VISITOR_GRACE_MS', 15_000, 0),
    shutdownDeadlineMs: int(env, 'SHUTDOWN_DEADLINE_MS', 10_000, 100),
    retentionDays: int(env, 'RETENTION_DAYS', 30, 1, 3650),
    activityRetentionDays: int(env, 'ACTIVITY_RETENTION_DAYS', 0, 0, 36500),
    trustProxy: list(env.TRUST_PROXY),
    maxPendingVisitorWrites: int(env, 'MAX_PENDING_VISITOR_WRITES', 100_000, 10),
    activityPerMinPerIp: int(env, 'ACTIVITY_PER_MIN_PER_IP', 300, 1),
    activityPerMinPerAccount: int(env, 'ACTIVITY_PER_MIN_PER_ACCOUNT', 6000, 1),
    activityBacklogLimit: int(env, 'ACTIVITY_BACKLOG_LIMIT', 5000, 10),
    clientLogLinesPerMinPerIp: int(env, 'CLIENT_LOG_LINES_PER_MIN_PER_IP', 60, 1),
    clientLogLinesPerMin: int(env, 'CLIENT_LOG_LINES_PER_MIN', 1200, 1),
    newVisitorsPerMinPerIp: int(env, 'NEW_VISITORS_PER_MIN_PER_IP', 600, 1),
    admissionsPerSec: int(env, 'ADMISSIONS_PER_SEC', 2000, 1, 1_000_000),
    maxPendingAdmissions: int(env, 'MAX_PENDING_ADMISSIONS', 500, 1, 1_000_000),
    // A tenth of the global default, and as many as MAX_CONNECTIONS_PER_IP's default: a full NAT comes back in a second.
    admissionsPerSecPerIp: int(env, 'ADMISSIONS_PER_SEC_PER_IP', 200, 1, 1_000_000),
    logLevel: env.LOG_LEVEL || 'info',
    seedDemo: env.SEED_DEMO !== '0',
    natsUrl,
    reusePort,
    nodeId,
    clusterMaxPendingBytes: int(env, 'CLUSTER_MAX_PENDING_BYTES', 64 * MiB, MiB),
    clusterMaxRemoteAgents: int(env, 'CLUSTER_MAX_REMOTE_AGENTS', 50_000, 1),
    clusterConsentRefreshMs: int(env, 'CLUSTER_CONSENT_REFRESH_MS', 20_000, 100, 50_000),
    clusterStartTimeoutMs: int(env, 'CLUSTER_START_TIMEOUT_MS', 60_000, 1000, 600_000),
    ...loadSecurityConfig(env),
  };
}

/** hostname-pid-random: unique per process, readable in logs. */
function defaultNodeId(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9_-]/g, '').slice(0, 40) || 'relay';
  return `${host}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
