/**
 * The agent viewer: sign in, find a visitor, watch their page live, point, highlight and
 * (with the visitor's permission) control. This file wires the pieces together and owns the
 * session state shown to the agent; each concern lives in its own module:
 * auth.ts (token), connection.ts (socket, ordering, reconnect), frames.ts + frameDecoder.ts +
 * decode.worker.ts (decoding off the UI thread, capped), resyncThrottle.ts, notice.ts,
 * sanitize/ (untrusted events), replayCsp.ts (the replay document's CSP), player.ts (rrweb Replayer, scaling), visitors.ts (list),
 * tools.ts (pointer, highlight, control). See docs/agent-viewer.md.
 */
import type { RelayToAgent } from '../protocol/control.ts';
import { Close } from '../protocol/errors.ts';
import { MAX_INFLATED_FRAME_BYTES } from '../protocol/frames.ts';
import { clearToken, getToken, setTokenFromInput, takeTokenFromFragment, tokenInfo } from './auth.ts';
import { AgentConnection, agentSocketUrl } from './connection.ts';
import { FrameError } from './frames.ts';
import { Notice } from './notice.ts';
import { LivePlayer } from './player.ts';
import { ResyncThrottle } from './resyncThrottle.ts';
import { Tools } from './tools.ts';
import { VisitorList, type VisitorItem } from './visitors.ts';
import { ViewerKeys } from './e2e/viewerKeys.ts';
import type { JoinMsg } from '../protocol/control.ts';

/** What the agent sees in the view; mirrored on `<body data-state>` for tests and styling. */
export type ViewState =
  | 'signed-out' | 'connecting' | 'idle' | 'waiting-consent' | 'joined' | 'live' | 'refused' | 'visitor-left' | 'ended' | 'reconnecting';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
};

takeTokenFromFragment();

const ui = {
  signin: $<HTMLFormElement>('signin'),
  tokenInput: $<HTMLTextAreaElement>('token'),
  signinError: $('signin-error'),
  app: $('app'),
  who: $('who'),
  conn: $('conn'),
  signout: $<HTMLButtonElement>('signout'),
  search: $<HTMLInputElement>('search'),
  list: $('visitor-list'),
  listStatus: $('list-status'),
  sessionTitle: $('session-title'),
  sessionUrl: $('session-url'),
  stage: $('stage'),
  layer: $('tool-layer'),
  message: $('message'),
  messageText: $('message-text'),
  status: $('status'),
  end: $<HTMLButtonElement>('end'),
  toolbar: $('toolbar'),
  notice: $('notice'),
  e2e: $('e2e'),
};

/** This viewer's end-to-end key pair (e2e/viewerKeys.ts), for every session of this page load. */
const keys = new ViewerKeys();
(window as unknown as { cobrowseViewer: unknown }).cobrowseViewer = {
  /** The public key (base64url P-256 point) and its RFC 7638 thumbprint, for a key token's `cnf.jkt`. */
  publicKey: () => keys.ready.then((k) => (k ? { publicKey: k.publicKey, jkt: k.thumbprint } : undefined)),
  /** A customer-signed key token binding this viewer's key; sent with every join from now on. */
  setKeyToken: (token: string) => void (keys.keyToken = token),
};
void keys.ready.then((k) => k && (document.body.dataset.e2eJkt = k.thumbprint));

/** `join` with this viewer's public key (and key token, if the customer gave one). */
function joinMsg(visitorId: string, tabId?: string): JoinMsg {
  return {
    t: 'join', visitorId,
    ...(tabId ? { tabId } : {}),
    ...(keys.publicKey ? { key: keys.publicKey } : {}),
    ...(keys.keyToken ? { keyToken: keys.keyToken } : {}),
  };
}

/** The header's "end-to-end encrypted" line: what the frames actually were, and the code to compare. */
let e2eCode = '';
/** Set when the relay tried to swap the embed's key mid-session (stays up for the session). */
let e2eAlarm = '';
function showE2e(state: 'none' | 'on' | 'off'): void {
  ui.e2e.dataset.e2e = state;
  const text = state === 'on' ? `End-to-end encrypted${e2eCode ? ` · verification code ${e2eCode}` : ''}` : state === 'off' ? 'Not end-to-end encrypted' : '';
  ui.e2e.textContent = e2eAlarm ? `${text}${text ? ' · ' : ''}WARNING: ${e2eAlarm}` : text;
  if (e2eAlarm) ui.e2e.dataset.alarm = 'key-changed';
  else delete ui.e2e.dataset.alarm;
}

let conn: AgentConnection | undefined;
let state: ViewState = 'connecting';
/** The visitor we are watching or asking to watch; kept across reconnects to rejoin. */
let session: { visitorId: string; label: string; tabId?: string; joined: boolean; rejoinUntil?: number; rejoinTimer?: ReturnType<typeof setTimeout> } | undefined;
/** After a reconnect the visitor may not be back yet (both sockets dropped): keep asking this long. */
const REJOIN_WINDOW_MS = 60_000;
const REJOIN_EVERY_MS = 1500;

const notice = new Notice(ui.notice);
/** Asks the relay for a fresh snapshot after a dropped frame, spaced out (see resyncThrottle.ts). */
const resync = new ResyncThrottle(() => {
  if (session?.joined) conn?.send({ t: 'resync' });
});

const player = new LivePlayer(ui.stage, ui.layer, location.href, {
  onRebuilt: () => {
    resync.reset();
    if (session?.joined && (state === 'joined' || state === 'live' || state === 'reconnecting' || state === 'visitor-left')) setState('live');
  },
});

const tools = new Tools(
  {
    layer: ui.layer,
    pointerBtn: $<HTMLButtonElement>('tool-pointer'),
    highlightBtn: $<HTMLButtonElement>('tool-highlight'),
    controlBtn: $<HTMLButtonElement>('tool-control'),
    typeForm: $<HTMLFormElement>('typebox'),
    typeInput: $<HTMLInputElement>('type-text'),
    typeLabel: $('type-label'),
  },
  player,
  (m) => {
    if (!session?.joined || !conn) return false;
    // Typing goes to the page sealed for it (the relay sees only that something was typed, and where).
    if (m.t === 'input' && keys.canSeal) {
      // Sealed only for the pinned embed key (none between tab sessions: the value is held back).
      const c = conn;
      keys.sealInput(m.nodeId, m.value, (sealed) => c.send({ t: 'input', nodeId: m.nodeId, value: '', sealed }));
      return c.open;
    }
    return conn.send(m);
  },
  (text) => (ui.status.textContent = text),
);

const visitors = new VisitorList(
  { list: ui.list, search: ui.search, status: ui.listStatus },
  getToken,
  (v) => join(v),
  (message) => signOut(message),
);

const MESSAGES: Record<ViewState, string> = {
  'signed-out': 'Sign in to watch visitors.',
  connecting: 'Connecting to the relay…',
  idle: 'Pick a visitor from the list to ask to see their page.',
  'waiting-consent': 'Waiting for the visitor to allow you to see their page…',
  joined: 'The visitor allowed it. Waiting for their page…',
  live: '',
  refused: 'The visitor declined.',
  'visitor-left': 'The visitor left the page — waiting for them to come back…',
  ended: 'The session has ended.',
  reconnecting: 'Connection to the relay lost — reconnecting…',
};

function setState(s: ViewState, detail?: string): void {
  state = s;
  document.body.dataset.state = s;
  const text = detail ?? MESSAGES[s];
  ui.messageText.textContent = text;
  // Over a picture we still have (left, reconnecting), the message is a banner; otherwise it fills the view.
  ui.message.hidden = s === 'live';
  ui.message.classList.toggle('banner', player.showing && (s === 'visitor-left' || s === 'reconnecting' || s === 'joined'));
  ui.stage.classList.toggle('stale', s === 'visitor-left' || s === 'reconnecting');
  ui.status.textContent = s === 'live' ? `Watching ${session?.label ?? 'the visitor'}` : text;
  const inSession = !!session && (s === 'waiting-consent' || s === 'joined' || s === 'live' || s === 'visitor-left' || s === 'reconnecting');
  ui.end.hidden = !inSession;
  ui.toolbar.classList.toggle('active', s === 'live');
  for (const b of ui.toolbar.querySelectorAll<HTMLButtonElement>('.tool')) b.disabled = s !== 'live';
}

function setSessionHeader(): void {
  ui.sessionTitle.textContent = session ? session.label : 'No visitor';
  if (!session) ui.sessionUrl.textContent = '';
  visitors.setCurrent(session?.visitorId);
}

function join(v: VisitorItem): void {
  if (!conn) return;
  if (session && session.visitorId !== v.visitorId) leaveSession(false);
  // The id's end: ids begin with their creation second, shared by every visitor of that second.
  session = { visitorId: v.visitorId, label: v.name || v.userId || v.email || `visitor ${v.visitorId.slice(-6)}`, joined: false };
  ui.sessionUrl.textContent = v.lastUrl ?? '';
  setSessionHeader();
  player.clear();
  tools.reset();
  newKeys();
  conn.send(joinMsg(v.visitorId));
  setState('waiting-consent', `Asking ${session.label} to allow you to see their page…`);
}

/** A new session: the previous visitor's keys and code no longer apply. */
function newKeys(): void {
  conn?.resetKeys();
  keys.forgetEmbed();
  e2eCode = '';
  e2eAlarm = '';
  showE2e('none');
}

function leaveSession(send = true): void {
  clearTimeout(session?.rejoinTimer);
  resync.cancel();
  notice.hide();
  if (send && session) conn?.send({ t: 'leave' });
  session = undefined;
  player.clear();
  tools.reset();
  newKeys();
  setSessionHeader();
}

function onMessage(m: RelayToAgent): void {
  switch (m.t) {
    case 'ready':
      player.setPageOrigins(m.pageOrigins);
      ui.conn.textContent = 'connected';
      ui.conn.dataset.state = 'connected';
      if (session) {
        // Back after a drop: rejoin the same visitor (and tab). The relay re-asks only if it must.
        conn?.send(joinMsg(session.visitorId, session.tabId));
        session.joined = false;
        session.rejoinUntil = Date.now() + REJOIN_WINDOW_MS;
        player.gap();
        tools.reset();
        setState(player.showing ? 'reconnecting' : 'waiting-consent', `Rejoining ${session.label}…`);
      } else setState('idle');
      return;
    case 'joined':
      if (!session || session.visitorId !== m.visitorId) return;
      session.joined = true;
      session.tabId = m.tabId;
      keys.unpin(); // a new tab session: its embed key is pinned at its first frame that opens
      session.rejoinUntil = undefined;
      ui.sessionUrl.textContent = m.url;
      ui.sessionUrl.title = m.title;
      player.gap(); // a fresh full snapshot follows; nothing before it applies
      if (player.hasPicture && state === 'live') return;
      setState('joined');
      return;
    case 'consent-pending':
      // Online and being asked: after a relay restart the relay must ask again (the embed usually answers itself).
      if (!session || session.visitorId !== m.visitorId) return;
      clearTimeout(session.rejoinTimer);
      if (state !== 'live') setState(player.showing ? 'reconnecting' : 'waiting-consent', `Asking ${session.label} to allow you to see their page…`);
      return;
    case 'refused':
      if (!session || session.visitorId !== m.visitorId) return;
      if (m.reason === 'not_found' && session.rejoinUntil && Date.now() < session.rejoinUntil) {
        // We reconnected before the visitor did (a relay restart drops both): ask again shortly.
        const s = session;
        clearTimeout(s.rejoinTimer);
        s.rejoinTimer = setTimeout(() => {
          if (session === s) conn?.send(joinMsg(s.visitorId, s.tabId));
        }, REJOIN_EVERY_MS);
        setState('visitor-left', 'The visitor is not connected right now — waiting for them to come back…');
        return;
      }
      leaveSession(false);
      setState('refused', m.reason === 'denied' ? 'The visitor declined to share their page.' : m.reason === 'key_refused' ? 'The visitor\'s page refused this viewer\'s end-to-end encryption key (see their page for the reason). Nothing was shared.' : m.reason === 'ui_hidden' ? 'The visitor\'s page hid the consent prompt, so they could not be asked. Nothing was shared.' : 'That visitor is not online (or not in your account).');
      return;
    case 'visitor-left':
      if (!session || session.visitorId !== m.visitorId) return;
      player.gap();
      tools.reset();
      setState('visitor-left');
      return;
    case 'ended':
      if (!session || session.visitorId !== m.visitorId) return;
      leaveSession(false);
      setState('ended', m.reason === 'visitor_stopped' ? 'The visitor stopped sharing. The session has ended.' : m.reason === 'key_refused' ? 'The visitor\'s page refused this viewer\'s end-to-end encryption key. The session has ended.' : m.reason === 'ui_hidden' ? 'The visitor\'s page hid the sharing bar, so sharing stopped. The session has ended.' : 'The visitor has gone. The session has ended.');
      return;
    case 'page':
      if (!session || session.visitorId !== m.visitorId) return;
      ui.sessionUrl.textContent = m.url;
      ui.sessionUrl.title = m.title;
      return;
    case 'control':
      if (!session || session.visitorId !== m.visitorId) return;
      tools.setControl(m.allow);
      ui.status.textContent = m.allow ? 'The visitor gave you control.' : 'The visitor took back control.';
      return;
    case 'control-refused':
      if (!session || session.visitorId !== m.visitorId) return;
      tools.refused(m.action, m.reason);
      return;
    case 'resync':
      player.gap(); // the relay dropped frames for us; the next full snapshot puts it right
      return;
    case 'e2e-key': {
      // Already with the decoder (connection.ts), which refuses it if it is not the pinned embed key.
      if (!session || session.visitorId !== m.visitorId) return;
      const s = session;
      void keys.fromEmbed(m.embedKey).then((r) => {
        if (session !== s) return;
        if (r.refused) {
          e2eAlarm = 'a key from another source than the visitor\'s page was offered mid-session and refused (the relay may be tampering). Verify the code with the visitor.';
          notice.show(`Security warning: ${e2eAlarm}`, 'e2e_key_changed', 60_000);
          showE2e((ui.e2e.dataset.e2e as 'on' | 'off' | 'none' | undefined) ?? 'none');
          return;
        }
        if (!keys.pinnedEmbedKey && r.code) {
          e2eCode = r.code;
          if (ui.e2e.dataset.e2e === 'on') showE2e('on');
        }
      });
      return;
    }
    case 'reconnecting':
      // Cluster mode: the relays lost each other; the next frame puts the view back to live.
      if (!session || session.visitorId !== m.visitorId) return;
      setState('reconnecting', 'The relays lost touch with each other — resuming by itself…');
      return;
    case 'error':
      ui.status.textContent = `Relay: ${m.message} (${m.code})`;
      return;
  }
}

function connect(token: string): void {
  ui.signin.hidden = true;
  ui.app.hidden = false;
  const info = tokenInfo(token);
  ui.who.textContent = info.name || info.sub || 'agent';
  setState('connecting');
  conn = new AgentConnection(agentSocketUrl(), token, {
    onOpen: () => {},
    onMessage,
    onFrame: (f) => {
      if (!session?.joined) return; // not watching anyone (a frame in flight after leave)
      if (f.encrypted && f.embedKey) {
        const s = session;
        void keys.pin(f.embedKey).then((code) => {
          if (code === undefined || session !== s) return;
          e2eCode = code;
          if (ui.e2e.dataset.e2e === 'on') showE2e('on');
        });
      }
      if (f.events.length > 0 || f.asset) showE2e(f.encrypted ? 'on' : 'off');
      try {
        player.apply(f);
      } catch (err) {
        console.error('cobrowse viewer:', err);
        player.gap();
        resync.request();
      }
    },
    onBadFrame: (err) => onBadFrame(err),
    onBacklogDropped: (dropped) => onBadFrame(new FrameError('backlog', 'frames arrived faster than they could be shown'), dropped),
    onClose: (code, reason, retry) => {
      ui.conn.textContent = retry === undefined ? 'disconnected' : 'reconnecting';
      ui.conn.dataset.state = retry === undefined ? 'closed' : 'reconnecting';
      if (session) session.joined = false;
      player.gap();
      if (code === Close.tokenExpired.code || code === Close.visitorDeleted.code) {
        signOut(code === Close.tokenExpired.code ? 'Your agent token has expired. Sign in again.' : `Disconnected (${reason || code}).`);
        return;
      }
      if (retry === undefined) return;
      const why = code === Close.serviceRestart.code ? 'The relay is restarting' : 'Connection to the relay lost';
      setState(session ? 'reconnecting' : 'connecting', `${why} — reconnecting in ${Math.ceil(retry / 1000)} s…`);
      // The visitor list tells us if the token itself was refused (401) at the upgrade.
      void visitors.refresh();
    },
  });
  // The key pair first: every join carries its public key.
  const c = conn;
  void keys.ready.then((me) => {
    if (conn !== c) return;
    if (me) c.setIdentity({ privateKey: me.privateKey, publicKey: me.publicKey });
    c.connect();
  });
  visitors.start();
}

/** A frame was dropped (over the size cap, corrupt): the view waits for a fresh snapshot, and says so. */
let framesBad = 0;
function onBadFrame(err: FrameError, frames = 1): void {
  ui.stage.dataset.framesBad = String((framesBad += frames));
  player.gap();
  if (!session?.joined) return;
  const mib = Math.round(MAX_INFLATED_FRAME_BYTES / 1024 / 1024);
  notice.show(
    err.code === 'too_big'
      ? `An update from the visitor's page was too large to show (over ${mib} MiB unpacked) and was skipped. Asking their page for a fresh copy…`
      : err.code === 'undecryptable' || err.code === 'out_of_order'
        ? `An encrypted update from the visitor's page was refused (${err.message}). Asking their page for a fresh copy…`
      : err.code === 'downgrade'
        ? 'Security warning: an update that was not end-to-end encrypted arrived in an encrypted session and was refused (the relay may be tampering). Asking their page for a fresh copy…'
      : err.code === 'backlog'
        ? 'The visitor\'s page sent updates faster than they could be shown; they were skipped. Asking their page for a fresh copy…'
        : 'An update from the visitor\'s page could not be read and was skipped. Asking their page for a fresh copy…',
    err.code,
  );
  resync.request();
}

function signOut(message?: string): void {
  conn?.close();
  conn = undefined;
  visitors.stop();
  session = undefined;
  player.clear();
  tools.reset();
  clearToken();
  ui.app.hidden = true;
  ui.signin.hidden = false;
  ui.signinError.textContent = message ?? '';
  setState('signed-out');
  ui.tokenInput.focus();
}

ui.signin.addEventListener('submit', (e) => {
  e.preventDefault();
  const err = setTokenFromInput(ui.tokenInput.value);
  ui.tokenInput.value = '';
  if (err) {
    ui.signinError.textContent = err;
    return;
  }
  ui.signinError.textContent = '';
  connect(getToken()!);
});
ui.signout.addEventListener('click', () => signOut());
ui.end.addEventListener('click', () => {
  leaveSession(true);
  setState('idle', 'Session ended. Pick a visitor to watch.');
});
window.addEventListener('online', () => conn?.retryNow());

const token = getToken();
if (token) connect(token);
else signOut();
