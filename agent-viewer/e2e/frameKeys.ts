/**
 * The viewer's content keys, held in the decoder worker (decode.worker.ts): keys arrive wrapped for
 * this viewer's private key (E2eKeyForAgentMsg) and are unwrapped here, off the UI thread; frames are
 * opened in arrival order with the replay rules of docs/security.md ("Key schedule"):
 * - under the key in use, the sequence must go up by exactly one (a full snapshot may skip ahead:
 *   it follows a gap the relay reported); anything else was replayed, reordered or dropped;
 * - a newer key may take over with its first frame (sequence 0) or a full snapshot; once it has,
 *   every older key is forgotten, so an old frame cannot be replayed after it;
 * - a frame under a key we were never given (an agent removed from the session) cannot be opened;
 * - the embed key is pinned for the tab session (from one `joined` to the next) at the first content
 *   key that actually opens a frame: a key message from another embed key is then refused, a key
 *   already in use for a key id is never replaced, and plaintext frames are refused (a downgrade).
 */
import { derivePairKey, isEncryptedKind, openFrame, unwrapContentKey, decodeE2eHeader } from '../../protocol/e2e.ts';
import { isFullSnapshotKind, type FrameKind } from '../../protocol/frames.ts';
import { FrameError } from '../frames.ts';

export interface WrappedKey { embedKey: string; keyId: number; iv: string; wrapped: string }
export interface ViewerIdentity { privateKey: CryptoKey; publicKey: string }
/** The replay rules' position (pinned embed key, key in use and its last sequence), as a replacement worker takes it over. */
export interface KeyPosition { pinned?: string; cur?: { keyId: number; lastSeq: number } }
/** What a replacement decoder worker starts from (frameDecoder.ts): without it, a relay that forced a replacement could replay old frames or bring in another embed key. */
export interface KeyRestore extends KeyPosition {
  /** Every key id the stopped worker took. */
  seen: string[];
  /** The last key messages it took, in order, and those it had not answered for yet. */
  taken: WrappedKey[];
  pending: WrappedKey[];
}

/** A key message's identity in `seen`. */
export const keyTag = (k: WrappedKey) => `${k.embedKey} ${k.keyId}`;

/** Keys held at most (a rotation in flight plus the one in use, per tab followed). */
const MAX_KEYS = 8;

export class FrameKeys {
  private me?: ViewerIdentity;
  /** Key id → key, in the order they arrived. */
  private readonly keys = new Map<number, { embedKey: string; key: Promise<CryptoKey> }>();
  /** The embed key whose content key opened this tab session's frames. */
  private pinned?: string;
  private cur?: { keyId: number; lastSeq: number };
  /** Every key id received in this session: a key message replayed by the relay is ignored. */
  private readonly seen = new Set<string>();

  setIdentity(me: ViewerIdentity): void {
    this.me = me;
  }

  /** A new session (another visitor): nothing from before applies. */
  reset(): void {
    this.keys.clear();
    this.seen.clear();
    this.cur = undefined;
    this.pinned = undefined;
  }

  /** A new tab session (`joined`: tab followed, page reloaded): the next embed key that opens frames is pinned. */
  unpin(): void {
    this.pinned = undefined;
  }

  get pinnedEmbedKey(): string | undefined {
    return this.pinned;
  }

  get position(): KeyPosition {
    return { pinned: this.pinned, cur: this.cur && { ...this.cur } };
  }

  /**
   * Takes over a stopped worker's position: the keys it had taken (as it took them), then its pin, the
   * key in use and last sequence, and every key id it had seen (a replayed key message stays ignored);
   * keys older than the one in use are forgotten again, as they were at the switch; key messages it
   * had not answered for then meet the usual checks (what became of each is returned, in order).
   */
  restore(r: KeyRestore): ('added' | 'ignored' | 'refused')[] {
    this.reset();
    for (const k of r.taken) this.addKey(k);
    this.pinned = r.pinned;
    this.cur = r.cur && { ...r.cur };
    for (const id of r.seen.slice(-4096)) this.seen.add(id);
    if (this.cur && this.keys.has(this.cur.keyId)) this.forgetBefore(this.cur.keyId);
    return r.pending.map((k) => this.addKey(k));
  }

  private forgetBefore(keyId: number): void {
    for (const id of [...this.keys.keys()]) {
      if (id === keyId) break;
      this.keys.delete(id);
    }
  }

  /** Throws for a plaintext frame once this tab session has shown encrypted ones. */
  checkPlain(): void {
    if (this.pinned) throw new FrameError('downgrade', 'a frame that is not end-to-end encrypted, in an encrypted session');
  }

  /** `refused`: from another embed key than the pinned one, or replacing the key in use. */
  addKey(k: WrappedKey): 'added' | 'ignored' | 'refused' {
    const me = this.me;
    if (!me) return 'ignored';
    if (this.pinned !== undefined && k.embedKey !== this.pinned) return 'refused';
    const had = this.keys.get(k.keyId);
    if (had && had.embedKey !== k.embedKey && this.cur?.keyId === k.keyId) return 'refused';
    const id = keyTag(k);
    if (this.seen.has(id) || this.seen.size >= 4096) return 'ignored';
    this.seen.add(id);
    const key = derivePairKey(me.privateKey, k.embedKey, k.embedKey, me.publicKey, 'wrap').then((pair) => unwrapContentKey(pair, k, k.embedKey, me.publicKey));
    key.catch(() => {}); // a key that does not unwrap shows up as frames that do not open
    this.keys.delete(k.keyId); // the same id from another tab's embed: the newer one counts
    this.keys.set(k.keyId, { embedKey: k.embedKey, key });
    while (this.keys.size > MAX_KEYS) this.keys.delete(this.keys.keys().next().value!);
    return 'added';
  }

  /**
   * The plain frame (kind byte + payload) of an encrypted one, or undefined for a frame to skip
   * quietly (the stream before this viewer's first snapshot). Throws FrameError otherwise.
   */
  async open(bytes: Uint8Array): Promise<{ kind: FrameKind; payload: Uint8Array; embedKey: string } | undefined> {
    if (!isEncryptedKind(bytes[0])) throw new FrameError('corrupt', 'not an encrypted frame');
    let h;
    try {
      h = decodeE2eHeader(bytes);
    } catch (err) {
      throw new FrameError('corrupt', (err as Error).message);
    }
    const full = isFullSnapshotKind(h.kind);
    const entry = this.keys.get(h.keyId);
    if (!entry) throw new FrameError('undecryptable', `no key ${h.keyId} was given to this viewer`);
    const cur = this.cur;
    if (cur && h.keyId === cur.keyId) {
      if (h.seq <= cur.lastSeq) throw new FrameError('out_of_order', `frame ${h.seq} replayed or reordered (last was ${cur.lastSeq})`);
      if (h.seq !== cur.lastSeq + 1 && !full) throw new FrameError('out_of_order', `frames ${cur.lastSeq + 1}..${h.seq - 1} are missing`);
    } else if (cur) {
      const order = [...this.keys.keys()];
      const at = order.indexOf(cur.keyId);
      if (at >= 0 && order.indexOf(h.keyId) < at) {
        throw new FrameError('out_of_order', `frame under an older key ${h.keyId}`);
      }
      if (h.seq !== 0 && !full) throw new FrameError('out_of_order', `first frame under key ${h.keyId} is ${h.seq}, not 0`);
    } else if (!full && h.seq !== 0) {
      return undefined; // joined mid-stream: the snapshot asked for on our behalf follows
    }
    let opened;
    try {
      opened = await openFrame(await entry.key, bytes);
    } catch {
      throw new FrameError('undecryptable', `frame ${h.seq} under key ${h.keyId} does not open (wrong key or altered)`);
    }
    if (!cur || cur.keyId !== h.keyId) {
      // Switched: every key received before this one is forgotten.
      this.forgetBefore(h.keyId);
    }
    this.cur = { keyId: h.keyId, lastSeq: h.seq };
    this.pinned ??= entry.embedKey;
    return { kind: h.kind as FrameKind, payload: opened.payload, embedKey: entry.embedKey };
  }
}
