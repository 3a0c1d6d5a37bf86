/**
 * Styles of the visitor-side UI. Adopted into the shadow root as a constructed stylesheet, so they
 * neither leak into the host page nor need `style-src 'unsafe-inline'` under a strict CSP.
 */
export const UI_CSS = `
/* !important: the page's rules (even its !important ones and inline styles) must not hide, shrink or move us. */
:host {
  all: initial !important; display: block !important; position: static !important; visibility: visible !important;
  opacity: 1 !important; transform: none !important; filter: none !important; clip-path: none !important; mask: none !important;
  content-visibility: visible !important; contain: none !important; zoom: 1 !important; pointer-events: none !important;
  width: 0 !important; height: 0 !important; overflow: visible !important; mix-blend-mode: normal !important;
}
* { box-sizing: border-box; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.layer { position: fixed; inset: 0; width: 100vw; height: 100vh; max-width: none; max-height: none; margin: 0; padding: 0; border: 0; background: transparent; overflow: visible; pointer-events: none; z-index: 2147483647; }
.dialog { pointer-events: auto; background: #fff; color: #111827; border: 0; border-radius: 10px; padding: 20px; width: min(380px, calc(100vw - 32px)); box-shadow: 0 10px 30px rgba(0,0,0,.25); }
.dialog::backdrop { background: rgba(17, 24, 39, .35); }
.dialog h2 { margin: 0 0 8px; font-size: 16px; font-weight: 600; }
.dialog p { margin: 0 0 16px; color: #374151; }
.actions { display: flex; gap: 8px; justify-content: flex-end; }
button { cursor: pointer; border-radius: 6px; padding: 8px 14px; border: 1px solid #d1d5db; background: #fff; color: #111827; font-weight: 600; }
button.primary { background: #2563eb; border-color: #2563eb; color: #fff; }
button:focus-visible { outline: 3px solid #93c5fd; outline-offset: 2px; }
.bar { position: fixed; left: 50%; bottom: 16px; transform: translateX(-50%); pointer-events: auto; display: flex; gap: 12px; align-items: center; background: #111827; color: #fff; border-radius: 999px; padding: 6px 8px 6px 16px; box-shadow: 0 4px 14px rgba(0,0,0,.3); max-width: calc(100vw - 32px); }
.bar .dot { width: 8px; height: 8px; border-radius: 50%; background: #ef4444; flex: none; }
.bar span { color: #fff; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.bar button { padding: 4px 12px; border-radius: 999px; }
.code { position: fixed; right: 16px; bottom: 72px; pointer-events: auto; background: #fff; color: #111827; border-radius: 10px; padding: 16px; box-shadow: 0 6px 20px rgba(0,0,0,.25); text-align: center; }
.code strong { display: block; font-size: 28px; letter-spacing: 4px; margin: 6px 0; font-variant-numeric: tabular-nums; }
.code small { display: block; color: #6b7280; margin-bottom: 10px; }
.pointer { position: fixed; left: 0; top: 0; transition: transform 60ms linear; will-change: transform; }
.pointer svg { display: block; filter: drop-shadow(0 1px 2px rgba(0,0,0,.4)); }
.pointer span { display: inline-block; margin: 2px 0 0 14px; background: #7c3aed; color: #fff; border-radius: 4px; padding: 1px 6px; font-size: 12px; }
.highlight { position: fixed; border: 3px solid #f59e0b; background: rgba(245, 158, 11, .12); border-radius: 4px; transition: opacity .6s; }
.notice { position: fixed; left: 50%; top: 16px; transform: translateX(-50%); pointer-events: auto; background: #111827; color: #fff; border-radius: 8px; padding: 8px 14px; box-shadow: 0 4px 14px rgba(0,0,0,.3); max-width: calc(100vw - 32px); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;
