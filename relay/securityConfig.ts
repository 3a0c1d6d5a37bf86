/** The settings of the authentication budget, /metrics access, the visitor check's limit and demo tokens. */
import { MAX_AGENT_TOKEN_LIFETIME_SEC } from './auth/agentToken.ts';
// config.ts imports this file too; `int` and ConfigError are only used when loadSecurityConfig runs.
import { ConfigError, int } from './config.ts';

export interface SecurityConfig {
  /** Scrypt runs (secret-key verifications) in flight in the whole process; past it, 503. */
  scryptMaxInFlight: number;
  /** Scrypt runs in flight per client address; past it, 429. */
  scryptMaxInFlightPerIp: number;
  /** `GET /v1/visitor/check` per client address per second (burst: 2 s worth). */
  visitorChecksPerSec: number;
  /** Bearer token `/metrics` requires; unset turns `/metrics` off. */
  metricsToken?: string;
  /** Lifetime of the demo agent token `npm start` prints. */
  demoTokenTtlSec: number;
}

export function loadSecurityConfig(env: NodeJS.ProcessEnv): SecurityConfig {
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && !/^[\x21-\x7e]{32,512}$/.test(metricsToken)) {
    throw new ConfigError('METRICS_TOKEN must be 32 to 512 printable characters without spaces');
  }
  return {
    scryptMaxInFlight: int(env, 'SCRYPT_MAX_IN_FLIGHT', 8, 1, 1024),
    scryptMaxInFlightPerIp: int(env, 'SCRYPT_MAX_IN_FLIGHT_PER_IP', 2, 1, 1024),
    visitorChecksPerSec: int(env, 'VISITOR_CHECKS_PER_SEC', 5, 1),
    metricsToken,
    demoTokenTtlSec: int(env, 'DEMO_TOKEN_TTL_SEC', 3600, 60, MAX_AGENT_TOKEN_LIFETIME_SEC),
  };
}
