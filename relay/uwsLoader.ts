/**
 * uWebSockets.js comes from an npm alias whose loader silently falls back to a slow
 * pure-JS shim when the native binary does not load. Detect that, so start-up can say so.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export const uws: typeof UWS = require('uWebSockets.js');

/** True when the native C++ build is loaded (its functions are native code). */
export const uwsIsNative: boolean = /\[native code\]/.test(Function.prototype.toString.call(uws.App));
