/**
 * The embed's end-to-end encryption policy for one tab, on top of embedKeys.ts:
 * - who may receive the content key: an agent whose viewer sent a public key and, when the snippet
 *   pins the customer's key (`data-agent-key`), a valid key token binding that key to that agent;
 * - whether frames are encrypted: always when E2E is required (account setting or `data-e2e`),
 *   otherwise whenever every agent watching takes part (a viewer without a key gets plain frames);
 * - what the visitor is told: the verification code in the consent prompt, "end-to-end encrypted"
 *   on the sharing bar, and why an agent was refused.
 */
import type { AgentInfo, E2eKeyMsg } from '../../protocol/control.ts';
import type { E2eMode } from '../../protocol/e2e.ts';
import { EmbedKeys } from './embedKeys.ts';
import { importPinnedKey, verifyKeyToken, type PinnedKey } from './keyToken.ts';

export type Admission = { ok: true; code?: string } | { ok: false; reason: string };

/** WebCrypto's subtle API exists only in secure contexts: a page on plain http cannot encrypt. */
const CAN_ENCRYPT = typeof isSecureContext === 'boolean' && isSecureContext && typeof crypto !== 'undefined' && crypto.subtle !== undefined;
/** Why a join is refused whose key is not the one the visitor agreed to for that agent. */
export const KEY_CHANGED = 'their viewer\'s end-to-end encryption key is not the one you agreed to (a relay may have substituted it)';
const NO_CRYPTO = 'this page is not served over https, so it cannot be end-to-end encrypted';

export class E2eGate {
  /** Undefined on a page that cannot encrypt (plain http). */
  private readonly keys?: EmbedKeys;
  private accountMode: E2eMode = 'off';
  private readonly pin?: Promise<PinnedKey>;
  /** The snippet pins the customer's key: implies required. */
  private readonly pinned: boolean;
  /** Key of each agent watching (undefined: its viewer takes no part). */
  private readonly watching = new Map<string, string | undefined>();
  /** Admissions still being checked: frames wait for them, so a new agent gets the key before the snapshot. */
  private readonly checking = new Set<Promise<unknown>>();

  constructor(
    /** `required` from the snippet (`data-e2e`); the account's setting can only add to it. */
    private readonly snippetMode: E2eMode,
    pinnedKey: string,
    send: (m: E2eKeyMsg) => void,
    onError: (err: unknown) => void,
  ) {
    this.pinned = pinnedKey !== '';
    if (!CAN_ENCRYPT) return;
    this.keys = new EmbedKeys(send, onError);
    if (pinnedKey) {
      this.pin = importPinnedKey(pinnedKey);
      this.pin.catch(() => {}); // reported at the first admission
    }
  }

  setAccountMode(mode: E2eMode | undefined): void {
    this.accountMode = mode === 'required' ? 'required' : 'off';
  }

  /** The snippet pins the customer's key: a viewer key is vouched for by its token. */
  get pinsKeys(): boolean {
    return this.pinned;
  }

  get required(): boolean {
    return this.snippetMode === 'required' || this.accountMode === 'required' || this.pinned;
  }

  /** Frames are encrypted now. */
  get active(): boolean {
    if (!this.keys) return false;
    if (this.required) return true;
    return this.watching.size > 0 && [...this.watching.values()].every((k) => k !== undefined);
  }

  /** May this agent be shown the page? With the code to show in the prompt when it takes part. */
  async admit(agent: AgentInfo): Promise<Admission> {
    if (!this.keys) return this.required ? { ok: false, reason: NO_CRYPTO } : { ok: true };
    if (!agent.key) return this.required ? { ok: false, reason: 'their viewer did not offer an end-to-end encryption key' } : { ok: true };
    if (this.pin) {
      try {
        await verifyKeyToken(await this.pin, agent.keyToken, agent.id, agent.key);
      } catch (err) {
        return { ok: false, reason: String((err as Error).message ?? err) };
      }
    }
    return { ok: true, code: await this.keys.code(agent.key) };
  }

  /** The agent now watches: it gets the content key once admitted; `refuse` runs otherwise. */
  joined(agent: AgentInfo, refuse: (reason: string) => void): void {
    // One key per agent id: a second join with another key is refused; the key already admitted stays.
    if (this.watching.has(agent.id) && this.watching.get(agent.id) !== agent.key) return refuse(KEY_CHANGED);
    this.watching.set(agent.id, agent.key);
    const check = this.admit(agent).then((a) => {
      if (!this.watching.has(agent.id) || this.watching.get(agent.id) !== agent.key) return;
      if (!a.ok) {
        this.left(agent.id);
        refuse(a.reason);
      } else if (agent.key) {
        try {
          this.keys?.addAgent(agent.id, agent.key);
        } catch {
          refuse(KEY_CHANGED); // another key of this agent already holds the content key
        }
      }
    });
    this.checking.add(check);
    void check.finally(() => this.checking.delete(check));
  }

  /** Left, refused or removed: a new content key for the others. */
  left(agentId: string): void {
    this.watching.delete(agentId);
    this.keys?.removeAgent(agentId);
  }

  /** Sharing stopped or the socket closed: every key is forgotten. */
  reset(): void {
    this.watching.clear();
    this.keys?.reset();
  }

  /** The encrypted frame, or undefined when frames go in the clear (E2E not in use for this session). */
  async seal(kind: number, payload: Uint8Array): Promise<Uint8Array | undefined> {
    while (this.checking.size > 0) await Promise.all([...this.checking]);
    if (!this.active || !this.keys) return undefined;
    return this.keys.seal(kind, payload);
  }

  openInput(agentId: string, nodeId: number, sealed: string | undefined): Promise<string> {
    if (sealed === undefined) return Promise.reject(new Error('typing sent in the clear was refused (this session is end-to-end encrypted)'));
    if (!this.keys) return Promise.reject(new Error(NO_CRYPTO));
    return this.keys.openInput(agentId, nodeId, sealed);
  }
}
