/**
 * The only place a tab's topic is written: binary frames (verbatim, the hot path) and the
 * tab's `page` messages, which ride the same topic to stay in order with the frames. Fan-out is
 * uWS's, in C++; every publish is followed by the backpressure check.
 */
import type { RecognizedString, TemplatedApp } from 'uWebSockets.js';
import type { Backpressure } from './backpressure.ts';
import type { AgentData, TabData } from './types.ts';

/** Cluster mode: sends a tab's message once to each other relay with agents watching it. */
export interface RemoteFanout {
  forward(tab: TabData, message: RecognizedString, isBinary: boolean): void;
}

export class TabPublisher {
  /** Set in cluster mode. */
  remote?: RemoteFanout;

  constructor(
    private readonly app: TemplatedApp,
    private readonly backpressure: Backpressure,
  ) {}

  /** Publishes to the tab's agents; returns how many it went to (0 when nobody watches). */
  publish(tab: TabData, message: RecognizedString, isBinary: boolean): number {
    if (tab.agents.size === 0) return 0;
    this.app.publish(tab.topic, message, isBinary, false);
    this.remote?.forward(tab, message, isBinary);
    return this.backpressure.afterPublish(tab, typeof message === 'string' ? message.length : message.byteLength);
  }

  /** Cluster mode, on a watching relay: a remote tab's message to this relay's agents watching it. */
  publishToWatchers(topic: string, agents: Iterable<AgentData>, message: RecognizedString, isBinary: boolean): number {
    this.app.publish(topic, message, isBinary, false);
    return this.backpressure.afterPublishTo(agents);
  }
}
