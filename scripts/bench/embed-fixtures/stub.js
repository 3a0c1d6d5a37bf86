// Embed cost benchmark, page side (loaded before embed.js, as the docs' stub is).
// 1. The copy-paste stub from docs/embed.md, so Cobrowse.on works before embed.js loads.
!function(w){var c=w.Cobrowse=w.Cobrowse||{q:[]};['identify','showCode','stop','forget','on','configure'].forEach(function(m){c[m]=c[m]||function(){c.q.push([m,[].slice.call(arguments)])}})}(window);
window.__bench = { visitorId: null, errors: [], snapshotTasks: [], sends: [] };
Cobrowse.on('ready', function (e) { window.__bench.visitorId = e.visitorId; });
Cobrowse.on('error', function (e) { window.__bench.errors.push(e); });

// 2. Instrumentation, only with ?instrument=1 (the snapshot phase; the mutation phase runs without it):
//    - how long the page's socket message handler runs for each `snapshot-request` (the whole
//      synchronous task: rrweb serialisation, masking, JSON.stringify, UTF-8 encoding, queueing);
//    - when each binary frame leaves through WebSocket.send (after the async deflate), its kind and size.
if (/[?&]instrument=1\b/.test(location.search)) (function () {
  var desc = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
  Object.defineProperty(WebSocket.prototype, 'onmessage', {
    configurable: true,
    enumerable: desc.enumerable,
    get: desc.get,
    set: function (fn) {
      if (typeof fn !== 'function') return desc.set.call(this, fn);
      desc.set.call(this, function (ev) {
        var t0 = performance.now();
        try {
          return fn.call(this, ev);
        } finally {
          if (typeof ev.data === 'string' && ev.data.indexOf('"snapshot-request"') >= 0) {
            window.__bench.snapshotTasks.push({ start: t0, duration: performance.now() - t0 });
          }
        }
      });
    },
  });
  var send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data !== 'string') {
      var u8 = data instanceof Uint8Array ? data : new Uint8Array(data.buffer || data);
      window.__bench.sends.push({ at: performance.now(), kind: u8[0], bytes: u8.byteLength });
    }
    return send.apply(this, arguments);
  };
})();
