/**
 * The only place a tab's topic is written: binary frames (verbatim, the hot path) and the
 * tab's `page` messages, which ride the same topic to stay in order with the frames. Fan-out is
 * uWS's, in C++; every publish is followed by the backpressure check.
 */
import type { RecognizedString, TemplatedApp } from 'uWebSockets.js';
import type { Backpressure } from './backpressure.ts';
import type { TabData } from './types.ts';

export class TabPublisher {
  constructor(
    private readonly app: TemplatedApp,
    private readonly backpressure: Backpressure,
  ) {}

  /** Publishes to the tab's agents; returns how many it went to (0 when nobody watches). */
  publish(tab: TabData, message: RecognizedString, isBinary: boolean): number {
    if (tab.agents.size === 0) return 0;
    this.app.publish(tab.topic, message, isBinary, false);
    return this.backpressure.afterPublish(tab, typeof message === 'string' ? message.length : message.byteLength);
  }
}
