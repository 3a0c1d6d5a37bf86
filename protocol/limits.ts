/** Sizes both ends must agree on. The relay's configurable limits default to these. */

/** Default largest binary frame (a full snapshot) the relay accepts: MAX_PAYLOAD_BYTES. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Largest value an agent may type into a field with one `input` message (schema in control.ts). */
export const MAX_INPUT_VALUE_CHARS = 4096;
