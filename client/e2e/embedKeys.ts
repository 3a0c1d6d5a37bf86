/**
 * The embed's end-to-end keys for one tab (docs/security.md, "Key schedule"): its own ECDH P-256
 * pair (private half non-extractable), the current AES-256-GCM content key with its id and frame
 * sequence, and one pair key per agent viewer. The content key is wrapped for each agent the visitor
 * lets in, and replaced by a new one (wrapped only for those still watching) when an agent leaves or
 * is refused, and every E2E_ROTATE_MS: an agent who left cannot read what follows even if a relay
 * kept forwarding to it.
 */
import type { E2eKeyMsg } from '../../protocol/control.ts';
import {
  derivePairKey, E2E_ROTATE_MS, makeAgreementPair, makeContentKey, openAgentValue, sealFrame, verificationCode, wrapContentKey,
} from '../../protocol/e2e.ts';

interface Peer {
  agentId: string;
  agentKey: string;
  wrap: Promise<CryptoKey>;
  input: Promise<CryptoKey>;
}

interface ContentKey { keyId: number; key: CryptoKey; seq: number }

export class EmbedKeys {
  private readonly pair = makeAgreementPair();
  private current?: ContentKey;
  private nextKeyId = crypto.getRandomValues(new Uint32Array(1))[0];
  private readonly peers = new Map<string, Peer>();
  /**
   * Highest counter of a sealed input accepted from each viewer key (replay guard). Kept for the life
   * of this tab's pair, not per admission: the pair key is the same after a leave and rejoin, so
   * input recorded before it must stay refused after it.
   */
  private readonly lastInput = new Map<string, number>();
  /** Key changes and distributions, in order; frames are sealed only once the ones before them are done. */
  private chain: Promise<void> = Promise.resolve();
  private timer?: ReturnType<typeof setInterval>;

  constructor(
    private readonly send: (m: E2eKeyMsg) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  async publicKey(): Promise<string> {
    return (await this.pair).publicKey;
  }

  /** The code the visitor reads out to compare with the agent's view. */
  async code(agentKey: string): Promise<string> {
    return verificationCode(await this.publicKey(), agentKey);
  }

  /** Agents (by id) this tab's content key is currently wrapped for. */
  get agentIds(): Set<string> {
    return new Set([...this.peers.values()].map((p) => p.agentId));
  }

  hasAgent(agentId: string, agentKey: string): boolean {
    return this.peers.get(agentKey)?.agentId === agentId;
  }

  /** Wraps the current content key for this agent's viewer and sends it before any frame sealed after this call. */
  addAgent(agentId: string, agentKey: string): void {
    if (this.peers.has(agentKey)) return;
    // One key per agent id: a second key for an agent already holding one is never wrapped for.
    for (const p of this.peers.values()) if (p.agentId === agentId) throw new Error('a second end-to-end key for an agent already watching was refused');
    const peer: Peer = {
      agentId,
      agentKey,
      wrap: this.pair.then((p) => derivePairKey(p.privateKey, agentKey, p.publicKey, agentKey, 'wrap')),
      input: this.pair.then((p) => derivePairKey(p.privateKey, agentKey, p.publicKey, agentKey, 'agent-input')),
    };
    this.peers.set(agentKey, peer);
    this.queue(async () => {
      if (!this.current) return this.install();
      await this.distribute(this.current, [peer]);
    });
    if (!this.timer) this.timer = setInterval(() => this.rotate(), E2E_ROTATE_MS);
  }

  /** This agent may no longer read: nothing more is sealed under a key it holds. */
  removeAgent(agentId: string): void {
    let removed = false;
    for (const [k, p] of this.peers) if (p.agentId === agentId) removed = this.peers.delete(k) || removed;
    if (this.peers.size === 0) return this.reset(); // nobody left to read: the next agent gets a new key
    if (removed) this.rotate();
  }

  /** A new content key for those still watching; frames wait for it. */
  rotate(): void {
    this.current = undefined;
    this.queue(() => this.install());
  }

  /** Nobody watches any more (or the socket went): forget every key; the next agent gets a new one. */
  reset(): void {
    this.peers.clear();
    this.current = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Encrypts one frame (kind + compressed payload), in sending order. */
  async seal(kind: number, payload: Uint8Array): Promise<Uint8Array> {
    for (let tries = 0; !this.current; tries++) {
      if (tries === 3) throw new Error('no content key could be made');
      this.queue(() => this.install());
      await this.chain;
    }
    const ck = this.current;
    const seq = ck.seq++;
    return sealFrame(ck.key, { kind, keyId: ck.keyId, seq }, payload);
  }

  /** The value an agent typed, if it was sealed by that agent's viewer for this tab and not seen before. */
  async openInput(agentId: string, nodeId: number, sealed: string): Promise<string> {
    for (const p of this.peers.values()) {
      if (p.agentId !== agentId) continue;
      let opened: { n: number; value: string };
      try {
        opened = await openAgentValue(await p.input, nodeId, sealed);
      } catch {
        continue; // another viewer of the same agent
      }
      if (opened.n <= (this.lastInput.get(p.agentKey) ?? -1)) throw new Error('a replayed input was refused');
      this.lastInput.set(p.agentKey, opened.n);
      return opened.value;
    }
    throw new Error('an input not sealed by this agent was refused');
  }

  private queue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err) => this.onError(err));
  }

  private async install(): Promise<void> {
    if (this.current) return;
    const ck: ContentKey = { keyId: this.nextKeyId, key: await makeContentKey(), seq: 0 };
    this.nextKeyId = (this.nextKeyId + 1) >>> 0;
    await this.distribute(ck, [...this.peers.values()]);
    this.current = ck;
  }

  private async distribute(ck: ContentKey, peers: Peer[]): Promise<void> {
    const embedKey = await this.publicKey();
    const msgs = await Promise.all(peers.map(async (p) => {
      const w = await wrapContentKey(await p.wrap, ck.key, ck.keyId, embedKey, p.agentKey);
      return { p, msg: { t: 'e2e-key', agentId: p.agentId, agentKey: p.agentKey, embedKey, keyId: ck.keyId, ...w } satisfies E2eKeyMsg };
    }));
    // Only to viewers still here: one removed while we were wrapping gets nothing.
    for (const { p, msg } of msgs) if (this.peers.get(p.agentKey) === p) this.send(msg);
  }
}
