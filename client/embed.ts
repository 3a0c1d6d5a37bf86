/**
 * The embed script, first cut: connect, ask consent, send a masked full snapshot on
 * every snapshot-request and after DOM changes. The rrweb recorder, the consent UI,
 * control and the transport rules land with the embed-script issue.
 */
import { snapshot } from 'rrweb-snapshot';
import { encodeFrame, FrameKind } from '../protocol/frames.ts';

type Msg = { t: string; [k: string]: unknown };

(function start() {
  const script = document.currentScript as HTMLScriptElement | null;
  const key = script?.dataset.key;
  if (!script || !key) return;
  const relay = new URL(script.src);
  const wsBase = `${relay.protocol === 'https:' ? 'wss' : 'ws'}://${relay.host}/v1/visitor`;
  const store = { vid: 'cobrowse.vid', vt: 'cobrowse.vt', tab: 'cobrowse.tab' };
  let ws: WebSocket | undefined;
  let sharing = false;
  let stopped = false;
  let timer: number | undefined;

  const send = (m: Msg) => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify(m));
  const sendSnapshot = () => {
    if (!sharing || ws?.readyState !== WebSocket.OPEN) return;
    const node = snapshot(document, { maskAllInputs: true, blockClass: 'cobrowse-hidden', blockSelector: '[data-cobrowse-hidden]' });
    ws.send(encodeFrame(FrameKind.FullSnapshot, new TextEncoder().encode(JSON.stringify(node))));
  };

  new MutationObserver(() => {
    if (!sharing) return;
    clearTimeout(timer);
    timer = window.setTimeout(sendSnapshot, 100);
  }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });

  function connect(attempt = 0) {
    if (stopped) return;
    const q = new URLSearchParams({ key: key! });
    const vid = localStorage.getItem(store.vid);
    const vt = localStorage.getItem(store.vt);
    const tab = sessionStorage.getItem(store.tab);
    if (vid && vt) q.set('vid', vid), q.set('vt', vt);
    if (tab) q.set('tab', tab);
    ws = new WebSocket(`${wsBase}?${q}`);
    ws.binaryType = 'arraybuffer';
    let opened = false;
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const m = JSON.parse(ev.data) as Msg;
      if (m.t === 'welcome') {
        localStorage.setItem(store.vid, String(m.visitorId));
        localStorage.setItem(store.vt, String(m.visitorToken));
        sessionStorage.setItem(store.tab, String(m.tabId));
        window.dispatchEvent(new CustomEvent('cobrowse:welcome', { detail: { visitorId: m.visitorId } }));
        send({ t: 'page', url: location.href.slice(0, 2048), title: document.title.slice(0, 512) });
      } else if (m.t === 'consent-request') {
        const agent = m.agent as { id: string; name: string };
        const allow = window.confirm(`${agent.name} wants to see this page. Allow?`);
        sharing = sharing || allow;
        send({ t: 'consent', agentId: agent.id, allow });
      } else if (m.t === 'snapshot-request') {
        sharing = true; // the relay asks only after consent (or when the account turned consent off)
        sendSnapshot();
      }
    };
    ws.onclose = (ev) => {
      if (ev.code === 4004) {
        // Our data was deleted: forget the ids and stay away for this page.
        localStorage.removeItem(store.vid);
        localStorage.removeItem(store.vt);
        stopped = true;
        return;
      }
      // Refused before opening with stored ids (e.g. the relay no longer accepts them): start fresh.
      if (!opened && vid) {
        localStorage.removeItem(store.vid);
        localStorage.removeItem(store.vt);
      }
      if (ev.code === 4001 || ev.code === 4003) return;
      const delay = Math.random() * Math.min(30_000, 500 * 2 ** attempt);
      window.setTimeout(() => connect(attempt + 1), delay);
    };
    ws.onopen = () => {
      opened = true;
      attempt = 0;
      if (identity) send({ t: 'identify', ...identity });
    };
  }

  let identity: { userId?: string; name?: string; email?: string } | undefined;
  (window as unknown as { Cobrowse: object }).Cobrowse = {
    identify(who: { userId?: string; name?: string; email?: string }) {
      identity = {};
      for (const k of ['userId', 'name', 'email'] as const) if (typeof who?.[k] === 'string') identity[k] = who[k];
      send({ t: 'identify', ...identity });
    },
    /** Erases this visitor's stored record, authorised by its own visitor token. */
    forget() {
      sharing = false;
      send({ t: 'forget' });
    },
    stop() {
      stopped = true;
      sharing = false;
      send({ t: 'end' });
      ws?.close(1000);
    },
  };
  connect();
})();
