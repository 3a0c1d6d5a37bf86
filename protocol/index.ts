export * from './frames.ts';
export * from './e2e.ts';
export * from './assetFrame.ts';
export * from './errors.ts';
export * from './control.ts';
export * from './lookupCode.ts';
export * from './sensitiveField.ts';
export * from './endpoints.ts';
export * from './limits.ts';
export * from './rest.ts';
export { MAX_ERASURE_IDS } from './restApi.ts';
/** JWT audience for agent tokens. */
export const AGENT_AUDIENCE = 'cobrowse-agent';
/** Issuer of the tokens the relay mints itself. */
export const RELAY_ISSUER = 'cobrowse-relay';
