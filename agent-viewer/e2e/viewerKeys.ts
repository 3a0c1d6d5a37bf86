/**
 * This viewer's end-to-end identity on the UI thread: an ECDH P-256 pair made when the viewer loads
 * (private half non-extractable; it is handed to the decoder worker, which unwraps content keys with
 * it), its public key sent with every `join`, the verification code shown to the agent, and sealing
 * of what the agent types for the visitor's page (under the pair key with that tab's embed).
 * `window.cobrowseViewer` exposes the public key and its RFC 7638 thumbprint so the customer's agent
 * console can mint a key token binding it (`cnf.jkt`), and `setKeyToken()` to hand that token over.
 */
import { derivePairKey, jwkThumbprint, makeAgreementPair, sealAgentValue, verificationCode } from '../../protocol/e2e.ts';
import type { ViewerIdentity } from './frameKeys.ts';

export class ViewerKeys {
  /** Undefined where the browser cannot encrypt (WebCrypto needs a secure context): joins then carry no key. */
  readonly ready: Promise<(ViewerIdentity & { thumbprint: string }) | undefined>;
  private me?: ViewerIdentity;
  /** The embed (tab) we last got a key from, and our input key with it. */
  /** The pinned embed key (`stale`: from the previous tab session, awaiting the next) and our input key with it. */
  private embed?: { key: string; input: Promise<CryptoKey>; stale: boolean };
  private inputCounter = 0;
  private inputChain: Promise<unknown> = Promise.resolve();
  keyToken?: string;

  constructor() {
    this.ready = (typeof crypto !== 'undefined' && crypto.subtle ? makeAgreementPair() : Promise.reject(new Error('no WebCrypto here')))
      .then(async (p) => {
        this.me = p;
        return { ...p, thumbprint: await jwkThumbprint(p.publicKey) };
      })
      .catch((err) => {
        console.error('cobrowse viewer: no end-to-end encryption key', err);
        return undefined;
      });
  }

  get publicKey(): string | undefined {
    return this.me?.publicKey;
  }

  /**
   * A key message from an embed. The code to show, or `refused`: the tab session's embed key is
   * pinned (pin()) and this is another one (a relay substituting its own key); nothing changes.
   */
  async fromEmbed(embedKey: string): Promise<{ code: string; refused?: boolean }> {
    const me = await this.ready;
    if (!me) return { code: '' };
    if (this.embed && !this.embed.stale && this.embed.key !== embedKey) return { code: '', refused: true };
    return { code: await verificationCode(embedKey, me.publicKey) };
  }

  /**
   * The embed key whose content key opened the frames shown (the decoder worker reports it): typing
   * is sealed only for it. Within a tab session it never changes; after unpin() (a new tab session)
   * the next one takes over. Returns the code for it when it changed, undefined when not.
   */
  async pin(embedKey: string): Promise<string | undefined> {
    const me = await this.ready;
    if (!me) return undefined;
    if (this.embed && (this.embed.key === embedKey || !this.embed.stale)) {
      if (this.embed.key === embedKey) this.embed.stale = false;
      return undefined;
    }
    this.embed = { key: embedKey, input: derivePairKey(me.privateKey, embedKey, embedKey, me.publicKey, 'agent-input'), stale: false };
    return verificationCode(embedKey, me.publicKey);
  }

  /** A new tab session (`joined`): typing waits for its embed key to open a frame. */
  unpin(): void {
    if (this.embed) this.embed.stale = true;
  }

  get pinnedEmbedKey(): string | undefined {
    return this.embed && !this.embed.stale ? this.embed.key : undefined;
  }

  /** A new session: typing is not sealed for the previous visitor's page. */
  forgetEmbed(): void {
    this.embed = undefined;
  }

  /** Typing is sealed (or, between tab sessions, held back) rather than sent in the clear. */
  get canSeal(): boolean {
    return this.embed !== undefined;
  }

  /** Seals one typed value; calls `send` with it, in the order typed. */
  sealInput(nodeId: number, value: string, send: (sealed: string) => void): void {
    const embed = this.embed;
    if (!embed || embed.stale) return;
    const n = this.inputCounter++;
    this.inputChain = this.inputChain.then(async () => send(await sealAgentValue(await embed.input, n, nodeId, value))).catch((err) => console.error('cobrowse viewer: cannot seal input', err));
  }
}
