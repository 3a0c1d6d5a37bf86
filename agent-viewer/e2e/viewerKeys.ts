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
  private embed?: { key: string; input: Promise<CryptoKey> };
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

  /** A key message from this embed: later input is sealed for it. Returns the verification code to show. */
  async fromEmbed(embedKey: string): Promise<string> {
    const me = await this.ready;
    if (!me) return '';
    if (this.embed?.key !== embedKey) {
      this.embed = { key: embedKey, input: derivePairKey(me.privateKey, embedKey, embedKey, me.publicKey, 'agent-input') };
    }
    return verificationCode(embedKey, me.publicKey);
  }

  /** A new session: typing is not sealed for the previous visitor's page. */
  forgetEmbed(): void {
    this.embed = undefined;
  }

  get canSeal(): boolean {
    return this.embed !== undefined;
  }

  /** Seals one typed value; calls `send` with it, in the order typed. */
  sealInput(nodeId: number, value: string, send: (sealed: string) => void): void {
    const embed = this.embed;
    if (!embed) return;
    const n = this.inputCounter++;
    this.inputChain = this.inputChain.then(async () => send(await sealAgentValue(await embed.input, n, nodeId, value))).catch((err) => console.error('cobrowse viewer: cannot seal input', err));
  }
}
