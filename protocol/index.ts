export * from './frames.ts';
export * from './assetFrame.ts';
export * from './errors.ts';
export * from './control.ts';

/** Sub-protocol negotiated on the agent socket; the token rides beside it as `bearer.<jwt>`. */
export const AGENT_SUBPROTOCOL = 'cobrowse.v1';
export const BEARER_PREFIX = 'bearer.';
/** JWT audience for agent tokens. */
export const AGENT_AUDIENCE = 'cobrowse-agent';
/** Issuer of the tokens the relay mints itself. */
export const RELAY_ISSUER = 'cobrowse-relay';
