/**
 * The cluster's directory of online tabs: a JetStream KV bucket (memory storage) that every relay
 * writes its own tabs into and WATCHES into a local replica, so the visitor list, search's online
 * filter, joins and erasures read memory, never a round to every relay (bench/RESULTS.md, "Directory").
 *
 * Liveness: each relay puts `node.<id>` every NODE_HEARTBEAT_MS; a relay not heard from for
 * NODE_DEAD_MS is dead and its tabs leave every replica at once (≤ 5 s + one sweep). Tab keys are
 * re-put every TAB_REFRESH_MS so the bucket's max age (PRESENCE_MAX_AGE_MS) removes a dead relay's
 * keys from NATS too; a relay restarted under the same NODE_ID deletes the keys its previous life
 * left behind (they would look alive again). A closed tab is deleted at once. User id and email are never written: only
 * keyed hashes of them, for erasure by user id or email.
 *
 * Writes are queued and started together once per event-loop turn (setImmediate), at most
 * MAX_WRITES_IN_FLIGHT unanswered: the NATS client sends whatever one turn started in one socket
 * write, where a put per connect callback had cost a loopback write each (the kernel's send is most
 * of its price), and a connect storm or a shutdown no longer sends tens of thousands of requests that
 * then time out together. The heartbeat is not queued: a backlog of tab writes must never make this
 * relay look dead.
 */
import crypto from 'node:crypto';
import { StorageType, type KV, type KvEntry } from 'nats';
import {
  NODE_DEAD_MS, NODE_HEARTBEAT_MS, PRESENCE_BUCKET, PRESENCE_MAX_AGE_MS, TAB_REFRESH_MS,
  parsePresenceTab, presenceNodeKey, presenceTabKey, type PresenceTab,
} from '../../protocol/cluster.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { TabData } from '../sessions/types.ts';
import type { ClusterConnection } from './connection.ts';
import { retryUntil } from './startRetry.ts';

/** Tab writes sent and not yet answered (a put is acknowledged by the server in well under a ms when it keeps up). */
export const MAX_WRITES_IN_FLIGHT = 1024;

export interface RemoteTab extends PresenceTab {
  accountId: string;
  visitorId: string;
  tabId: string;
}

export interface PresenceEvents {
  /** A relay stopped heartbeating: its tabs are gone from the replica. */
  nodeDead(node: string): void;
  /** A tab of another relay appeared or changed. */
  tabSeen(tab: RemoteTab): void;
}

export class Presence {
  private kv?: KV;
  private stopWatch?: () => void;
  /** Other relays' tabs by KV key. */
  private readonly tabs = new Map<string, RemoteTab>();
  private readonly byVisitor = new Map<string, Set<string>>();
  /** account -> visitor keys (`account/visitor`) with entries: the visitor list reads one account. */
  private readonly byAccount = new Map<string, Set<string>>();
  /** Last heartbeat (local ms) of every other relay. */
  private readonly nodes = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** The watch has replayed the bucket's history and now delivers live puts. */
  private live = false;
  /**
   * Our latest put of each of our tabs (its KV revision, once acknowledged). A tab that closed here
   * and reopened on another relay is that relay's key now: our late delete must not remove it, so
   * deletes are conditional on the revision we wrote.
   */
  private readonly own = new Map<string, Promise<number | undefined>>();
  /** Tab writes not started yet, in order (FIFO: a put and the delete after it run in that order). */
  private queue: Array<() => Promise<unknown>> = [];
  private inFlight = 0;
  /** The most tab writes ever unanswered at once (the test checks the bound). */
  peakInFlight = 0;
  private drainScheduled = false;
  private stopped = false;

  constructor(
    private readonly conn: ClusterConnection,
    private readonly nodeId: string,
    private readonly secret: Buffer,
    private readonly localTabs: () => Iterable<TabData>,
    /** Whether this relay holds the tab now (the router's map, O(1)). */
    private readonly holds: (accountId: string, visitorId: string, tabId: string) => boolean,
    private readonly events: PresenceEvents,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** `deadlineMs`: how long NATS may take to open the bucket and its watch (startRetry.ts). */
  async start(deadlineMs: number): Promise<void> {
    await retryUntil('presence: opening the directory bucket', () => this.open(), this.log, deadlineMs);
    this.timers.push(setInterval(() => this.beat(), NODE_HEARTBEAT_MS));
    this.timers.push(setInterval(() => this.refreshAll(), TAB_REFRESH_MS));
    this.timers.push(setInterval(() => this.sweep(), 500));
    for (const t of this.timers) t.unref();
    // A NATS restart with memory storage loses the bucket: make it again, re-put, re-watch.
    this.conn.onChange((up) => {
      if (up) this.open().catch((err) => this.log.warn({ err: (err as Error).message }, 'presence: reopening the bucket failed; retried on the next heartbeat'));
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.stopWatch?.();
    // Queued puts and deletes are of tabs deleted below (or of leftovers the bucket's max age clears).
    this.stopped = true;
    this.queue = [];
    // Leave at once rather than after NODE_DEAD_MS: a rolling deploy's visitors are re-found sooner.
    const kv = this.kv;
    if (kv && this.conn.up) {
      await Promise.allSettled([...this.localTabs()].map((t) => {
        const key = presenceTabKey(t.account.id, t.visitorId, t.tabId);
        return this.deleteOwn(kv, key, this.own.get(key));
      }));
      await kv.delete(presenceNodeKey(this.nodeId)).catch(() => {});
    }
  }

  private async open(): Promise<void> {
    const js = this.conn.nc.jetstream();
    const kv = await js.views.kv(PRESENCE_BUCKET, { history: 1, ttl: PRESENCE_MAX_AGE_MS, storage: StorageType.Memory });
    this.kv = kv;
    this.stopWatch?.();
    this.live = false;
    const it = await kv.watch({ key: '>', initializedFn: () => (this.live = true) });
    this.stopWatch = () => it.stop();
    (async () => {
      for await (const e of it) this.onEntry(e);
    })().catch((err) => this.log.warn({ err: (err as Error).message }, 'presence watch ended'));
    this.beat();
    this.refreshAll();
  }

  // ---------------------------------------------------------------- this relay's tabs

  announce(tab: TabData): void {
    const v = tab.visitor;
    const entry: PresenceTab = { node: this.nodeId, url: tab.url.slice(0, 2048) };
    if (v.userId !== undefined) entry.userKey = this.hash('user', tab.account.id, v.userId);
    if (v.email !== undefined) entry.emailKey = this.hash('email', tab.account.id, v.email.toLowerCase());
    const key = presenceTabKey(tab.account.id, tab.visitorId, tab.tabId);
    this.write(() => {
      // Closed while queued: its key may be another relay's by now (the visitor reconnected there);
      // a late put would take it over, and our withdraw then delete it.
      if (!this.holds(tab.account.id, tab.visitorId, tab.tabId)) return Promise.resolve();
      const put = this.kv!.put(key, JSON.stringify(entry));
      this.own.set(key, put.catch(() => undefined));
      return put;
    });
  }

  withdraw(tab: TabData): void {
    const key = presenceTabKey(tab.account.id, tab.visitorId, tab.tabId);
    const queued = this.write(() => {
      // Read when the delete starts: the put queued before it has started (or been skipped) by then.
      const put = this.own.get(key);
      this.own.delete(key);
      // No put of ours since the last delete: nothing here is ours (a leftover of ours is deleted by the watch).
      if (!put) return Promise.resolve();
      return this.deleteOwn(this.kv!, key, put);
    });
    if (!queued) this.own.delete(key);
  }

  /** Deletes our entry for `key` unless another relay has written it since our `put` (then it is theirs). */
  private async deleteOwn(kv: KV, key: string, put: Promise<number | undefined> | undefined): Promise<void> {
    const revision = put ? await put : undefined;
    try {
      await (revision === undefined ? kv.delete(key) : kv.delete(key, { previousSeq: revision }));
    } catch (err) {
      // "wrong last sequence": the key moved on (the tab reopened); nothing of ours to remove.
      if (!/wrong last sequence/i.test((err as Error).message)) throw err;
      this.metrics.counters.cluster_presence_withdraw_superseded_total++;
    }
  }

  private beat(): void {
    if (!this.kv || !this.conn.up) return;
    this.kv.put(presenceNodeKey(this.nodeId), String(Date.now())).catch(() => this.metrics.counters.cluster_presence_write_failures_total++);
  }

  private refreshAll(): void {
    for (const tab of this.localTabs()) if (!tab.closed) this.announce(tab);
  }

  /** False when the write is not queued (NATS down, or stopping): refreshAll re-puts on reconnect. */
  private write(op: () => Promise<unknown>): boolean {
    if (!this.kv || !this.conn.up || this.stopped) return false;
    this.queue.push(op);
    this.metrics.gauges.cluster_presence_writes_queued = this.queue.length;
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
    return true;
  }

  private drain(): void {
    this.drainScheduled = false;
    if (!this.kv || !this.conn.up) {
      // NATS went away: what is held is re-put by refreshAll when it is back, and a leftover key of a
      // tab closed meanwhile is deleted by the watch; the revisions of closed tabs go with the queue.
      this.queue = [];
      this.forgetClosedRevisions();
    }
    let started = 0;
    while (this.inFlight < MAX_WRITES_IN_FLIGHT && started < this.queue.length) {
      const op = this.queue[started++];
      this.inFlight++;
      let p: Promise<unknown>;
      try {
        p = op();
      } catch (err) {
        p = Promise.reject(err); // never thrown out of a setImmediate, never a slot held forever
      }
      p.catch(() => this.metrics.counters.cluster_presence_write_failures_total++).finally(() => this.settled());
    }
    this.queue = started === this.queue.length ? [] : this.queue.slice(started);
    this.metrics.gauges.cluster_presence_writes_queued = this.queue.length;
    this.metrics.gauges.cluster_presence_writes_in_flight = this.inFlight;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
  }

  private settled(): void {
    this.inFlight--;
    this.metrics.gauges.cluster_presence_writes_in_flight = this.inFlight;
    if (this.queue.length > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private forgetClosedRevisions(): void {
    for (const key of this.own.keys()) {
      const [, accountId, visitorId, tabId] = key.split('.');
      if (!this.holds(accountId, visitorId, tabId)) this.own.delete(key);
    }
  }

  hash(kind: 'user' | 'email', accountId: string, value: string): string {
    return crypto.createHmac('sha256', this.secret).update(`presence\0${kind}\0${accountId}\0${value}`).digest('base64url').slice(0, 32);
  }

  // ---------------------------------------------------------------- the replica

  private onEntry(e: KvEntry): void {
    const parts = e.key.split('.');
    if (parts[0] === 'node' && parts.length === 2) {
      const node = parts[1];
      if (node === this.nodeId) return;
      if (e.operation !== 'PUT') return this.dead(node);
      // History replayed at start is as old as its entry; a live put is now.
      this.nodes.set(node, this.live ? Date.now() : Math.min(Date.now(), e.created.getTime()));
      return;
    }
    if (parts[0] !== 'tab' || parts.length !== 4) return this.bad();
    const [, accountId, visitorId, tabId] = parts;
    if (e.operation !== 'PUT') return this.forget(e.key);
    let value: unknown;
    try {
      value = e.json();
    } catch {
      return this.bad();
    }
    const entry = parsePresenceTab(value);
    if (!entry) return this.bad();
    if (entry.node === this.nodeId) {
      // Our own tabs are read from the router; one we do not hold is left over from a previous life.
      // Conditional on this revision: a newer put (the tab back here or elsewhere) is not removed.
      if (!this.holds(accountId, visitorId, tabId)) this.write(() => this.kv!.delete(e.key, { previousSeq: e.revision }).catch(() => {}));
      return;
    }
    const tab: RemoteTab = { ...entry, accountId, visitorId, tabId };
    this.tabs.set(e.key, tab);
    const vk = `${accountId}/${visitorId}`;
    let keys = this.byVisitor.get(vk);
    if (!keys) this.byVisitor.set(vk, (keys = new Set()));
    keys.add(e.key);
    let vks = this.byAccount.get(accountId);
    if (!vks) this.byAccount.set(accountId, (vks = new Set()));
    vks.add(vk);
    this.metrics.gauges.cluster_presence_tabs = this.tabs.size;
    if (this.alive(tab.node)) this.events.tabSeen(tab);
  }

  private bad(): void {
    this.metrics.counters.cluster_bad_messages_total++;
  }

  private forget(key: string): void {
    const tab = this.tabs.get(key);
    if (!tab) return;
    this.tabs.delete(key);
    const vk = `${tab.accountId}/${tab.visitorId}`;
    const keys = this.byVisitor.get(vk);
    keys?.delete(key);
    if (keys && keys.size === 0) {
      this.byVisitor.delete(vk);
      const vks = this.byAccount.get(tab.accountId);
      vks?.delete(vk);
      if (vks && vks.size === 0) this.byAccount.delete(tab.accountId);
    }
    this.metrics.gauges.cluster_presence_tabs = this.tabs.size;
  }

  private alive(node: string): boolean {
    const at = this.nodes.get(node);
    return at !== undefined && Date.now() - at < NODE_DEAD_MS;
  }

  private sweep(): void {
    for (const [node, at] of this.nodes) if (Date.now() - at >= NODE_DEAD_MS) this.dead(node);
  }

  private dead(node: string): void {
    if (!this.nodes.delete(node)) return;
    for (const [key, tab] of [...this.tabs]) if (tab.node === node) this.forget(key);
    this.log.warn({ node }, 'relay left the cluster (no heartbeat): its tabs are offline');
    this.events.nodeDead(node);
  }

  /** Other live relays' tabs of this visitor. */
  tabsOf(accountId: string, visitorId: string): RemoteTab[] {
    const keys = this.byVisitor.get(`${accountId}/${visitorId}`);
    if (!keys) return [];
    const out: RemoteTab[] = [];
    for (const k of keys) {
      const t = this.tabs.get(k);
      if (t && this.alive(t.node)) out.push(t);
    }
    return out;
  }

  /** Visitors of the account online on other live relays, with their hashed user id and email. */
  *visitors(accountId: string): Iterable<RemoteTab> {
    for (const vk of this.byAccount.get(accountId) ?? []) {
      for (const k of this.byVisitor.get(vk) ?? []) {
        const t = this.tabs.get(k);
        if (t && this.alive(t.node)) {
          yield t;
          break;
        }
      }
    }
  }

  liveNodes(): string[] {
    return [...this.nodes.keys()].filter((n) => this.alive(n));
  }
}
