/**
 * The agent viewer, first cut: sign in with the token from the URL fragment, join a
 * visitor by id, rebuild full snapshots in a sandboxed iframe (no scripts). The live
 * Replayer, visitor list and tools land with the agent-viewer issue.
 */
import { createCache, createMirror, rebuildIntoSandboxedIframe } from 'rrweb-snapshot';
import { FrameKind } from '../protocol/frames.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (s: string) => ($('status').textContent = s);

const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  sessionStorage.setItem('cobrowse.agentToken', fromHash);
  history.replaceState(null, '', location.pathname); // keep the token out of the address bar and history
}
const token = sessionStorage.getItem('cobrowse.agentToken');

let ws: WebSocket | undefined;
if (!token) {
  status('No agent token: open the sign-in link printed by `npm start`.');
} else {
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/agent`, ['cobrowse.v1', `bearer.${token}`]);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => status('Connected. Enter a visitor id.');
  ws.onclose = (ev) => status(`Disconnected (${ev.code} ${ev.reason}).`);
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      const m = JSON.parse(ev.data) as { t: string; reason?: string; url?: string };
      if (m.t === 'joined') status(`Watching ${m.url ?? ''}`);
      else if (m.t === 'refused') status(`Refused (${m.reason}).`);
      else if (m.t === 'visitor-left') status('Visitor left; waiting for them to come back…');
      else if (m.t === 'ended') status('Session ended.');
      return;
    }
    const bytes = new Uint8Array(ev.data as ArrayBuffer);
    if (bytes[0] !== FrameKind.FullSnapshot) return;
    const node = JSON.parse(new TextDecoder().decode(bytes.subarray(1)));
    const root = $('view');
    root.replaceChildren();
    rebuildIntoSandboxedIframe(node, { root, cache: createCache(), mirror: createMirror() });
  };
}

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  const visitorId = ($('visitorId') as HTMLInputElement).value.trim();
  if (visitorId) ws?.send(JSON.stringify({ t: 'join', visitorId }));
  status('Asking the visitor…');
});
