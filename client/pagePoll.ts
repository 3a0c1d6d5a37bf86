/**
 * Tells the relay which page the tab shows, polled (a single-page app changes its URL without an
 * event we could rely on). The query and fragment are left out unless `keepUrlQuery` (they often
 * carry tokens), and the title, which is page content, only while capture runs (after consent).
 */
import { PAGE_TITLE_MAX_CHARS, PAGE_URL_MAX_CHARS, type PageMsg } from '../protocol/control.ts';

export const PAGE_POLL_MS = 1000;

/** The `page` message for a location and title; no DOM, so tested in node. */
export function pageMessage(loc: { href: string; origin: string; pathname: string }, title: string, keepUrlQuery: boolean): PageMsg {
  const url = keepUrlQuery ? loc.href : loc.origin + loc.pathname;
  return { t: 'page', url: url.slice(0, PAGE_URL_MAX_CHARS), title: title.slice(0, PAGE_TITLE_MAX_CHARS) };
}

export interface PagePollHost {
  /** Capture runs: the title may go out. */
  capturing(): boolean;
  connected(): boolean;
  send(msg: PageMsg): void;
  /** Runs page-facing work without letting our errors reach the host page. */
  safely(fn: () => unknown): void;
}

export class PagePoll {
  /** The last URL and title sent; a poll sends only a change. */
  #last = '';
  #timer?: ReturnType<typeof setInterval>;

  readonly #keepUrlQuery: boolean;
  readonly #host: PagePollHost;

  constructor(keepUrlQuery: boolean, host: PagePollHost) {
    this.#keepUrlQuery = keepUrlQuery;
    this.#host = host;
  }

  /** A new connection: send now, then poll. */
  start(): void {
    this.resend();
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#host.safely(() => this.#report()), PAGE_POLL_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Sends now even if unchanged (capture just started: now with the title). */
  resend(): void {
    this.#last = '';
    this.#report();
  }

  #report(): void {
    const msg = pageMessage(location, this.#host.capturing() ? document.title : '', this.#keepUrlQuery);
    const key = `${msg.url}\n${msg.title}`;
    if (key === this.#last || !this.#host.connected()) return;
    this.#last = key;
    this.#host.send(msg);
  }
}
