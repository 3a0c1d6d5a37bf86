// Embed cost benchmark, page side: node count, snapshot baselines, the mutation load.
// Plain JS on purpose (no transpiler helpers in page code); called by scripts/bench/embedCost.ts.
(function () {
  var B = window.__bench || (window.__bench = {});

  /** Elements, text nodes (whitespace-only among them) and comments in the document. */
  B.countNodes = function () {
    var counts = { elements: 0, text: 0, whitespaceText: 0, comments: 0, total: 0 };
    var walker = document.createTreeWalker(document, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT | NodeFilter.SHOW_COMMENT);
    for (var n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.nodeType === 1) counts.elements++;
      else if (n.nodeType === 3) {
        counts.text++;
        if (!/\S/.test(n.data)) counts.whitespaceText++;
      } else counts.comments++;
    }
    counts.total = counts.elements + counts.text + counts.comments;
    return counts;
  };

  /**
   * Baseline serialiser: the least a JS DOM serialiser producing rrweb's shape must do. A recursive
   * walk that gives every node an id (kept in a Map, like rrweb's mirror) and builds
   * {type, id, tagName, attributes, childNodes} / {type, id, textContent} objects. No masking, no
   * CSS handling, no blocking checks, no shadow DOM or iframes.
   */
  function walk(root) {
    var mirror = new Map();
    var next = 1;
    function ser(n) {
      var id = next++;
      mirror.set(n, id);
      if (n.nodeType === 1) {
        var attrs = {};
        for (var i = 0; i < n.attributes.length; i++) attrs[n.attributes[i].name] = n.attributes[i].value;
        var kids = [];
        for (var c = n.firstChild; c; c = c.nextSibling) {
          var s = ser(c);
          if (s) kids.push(s);
        }
        return { type: 2, id: id, tagName: n.tagName.toLowerCase(), attributes: attrs, childNodes: kids };
      }
      if (n.nodeType === 3) return { type: 3, id: id, textContent: n.data };
      if (n.nodeType === 9) {
        var dk = [];
        for (var d = n.firstChild; d; d = d.nextSibling) {
          var ds = ser(d);
          if (ds) dk.push(ds);
        }
        return { type: 0, id: id, childNodes: dk };
      }
      if (n.nodeType === 10) return { type: 1, id: id, name: n.name, publicId: n.publicId, systemId: n.systemId };
      return null; // comments etc. dropped, as the embed's slimDOM does
    }
    return ser(root);
  }

  function pause(ms) {
    return new Promise(function (r) { setTimeout(r, ms); });
  }

  /** Times the baselines `reps` times each (after `warm` unrecorded runs), interleaved. */
  B.baselines = async function (reps, warm) {
    var out = { outerHTML: [], outerHTMLJson: [], walk: [], walkJson: [], outerHTMLChars: 0, outerHTMLJsonBytes: 0, walkJsonChars: 0 };
    for (var i = 0; i < warm + reps; i++) {
      var t0 = performance.now();
      var html = document.documentElement.outerHTML;
      var t1 = performance.now();
      var json = JSON.stringify(html);
      var t2 = performance.now();
      await pause(30);
      var t3 = performance.now();
      var tree = walk(document);
      var t4 = performance.now();
      var json2 = JSON.stringify(tree);
      var t5 = performance.now();
      if (i >= warm) {
        out.outerHTML.push(t1 - t0);
        out.outerHTMLJson.push(t2 - t0);
        out.walk.push(t4 - t3);
        out.walkJson.push(t5 - t3);
      }
      out.outerHTMLChars = html.length;
      out.outerHTMLJsonBytes = new TextEncoder().encode(json).length;
      out.walkJsonChars = json2.length;
      html = json = tree = json2 = null;
      await pause(30);
    }
    return out;
  };

  // ------------------------------------------------------------------ the mutation load

  var timers = [];
  var load = null;

  /**
   * Starts a steady "busy web app" load, driven by one 50 ms application tick (as a dashboard fed by
   * a socket would be), so the page asks for the same number of rendered frames in every run. Per
   * second: 20 text changes in the price ticker (half `textContent =`, which replaces the text
   * node, half `.data =`, a characterData change, as frameworks do); 5 notification items inserted
   * and 5 removed (each a <li> with 3 children and 3 text nodes); 10 class/attribute toggles
   * (product card highlight, nav aria-expanded + class); a scroll of 400 px every 2 s. Mouse moves
   * (~30/s) and typing (5 keys/s) come from outside as real input (CDP).
   * `parts` picks some of 'text', 'feed', 'toggle', 'scroll' (all by default).
   */
  B.startLoad = function (parts) {
    var on = function (p) { return !parts || parts.indexOf(p) >= 0; };
    var seed = 42;
    function rnd() {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    }
    var amounts = document.querySelectorAll('#ticker .amount');
    var cards = document.querySelectorAll('.card');
    var navLinks = document.querySelectorAll('.nav-item a');
    var feed = document.getElementById('feed');
    // Every window replays the same sequence from the same state: top of the page, empty search field.
    B.stopLoad();
    window.scrollTo(0, 0);
    document.getElementById('q').value = '';
    load = { text: 0, inserted: 0, removed: 0, toggles: 0, scrolls: 0, started: performance.now() };
    var tick = 0;
    var k = 0;
    var dir = 1;
    timers.push(setInterval(function () {
      tick++;
      if (on('text')) {
        var el = amounts[Math.floor(rnd() * amounts.length)];
        var v = (5 + rnd() * 495).toFixed(2);
        if (tick % 2 === 0) el.textContent = v;
        else el.firstChild.data = v;
        load.text++;
      }
      if (on('feed') && tick % 4 === 0) {
        var li = document.createElement('li');
        li.className = 'toast';
        var s = document.createElement('strong');
        s.textContent = 'Order #' + (20000 + k++) + ' shipped';
        var sp = document.createElement('span');
        sp.textContent = 'Your parcel is on its way and should arrive within two days.';
        var t = document.createElement('time');
        t.textContent = 'just now';
        li.append(s, sp, t);
        feed.insertBefore(li, feed.firstChild);
        load.inserted++;
        if (feed.children.length > 10) {
          feed.lastElementChild.remove();
          load.removed++;
        }
      }
      if (on('toggle') && tick % 2 === 1) {
        if (tick % 4 === 1) cards[Math.floor(rnd() * cards.length)].classList.toggle('highlight');
        else {
          var a = navLinks[Math.floor(rnd() * navLinks.length)];
          var open = a.getAttribute('aria-expanded') === 'true';
          a.setAttribute('aria-expanded', open ? 'false' : 'true');
          a.parentNode.classList.toggle('open', !open);
        }
        load.toggles++;
      }
      if (on('scroll') && tick % 40 === 0) {
        if (window.scrollY > 3000) dir = -1;
        else if (window.scrollY < 400) dir = 1;
        window.scrollBy(0, dir * 400);
        load.scrolls++;
      }
    }, 50));
  };

  /** Stops the load; returns what it did and for how long. */
  B.stopLoad = function () {
    timers.forEach(clearInterval);
    timers = [];
    if (!load) return null;
    load.seconds = (performance.now() - load.started) / 1000;
    var r = load;
    load = null;
    return r;
  };

  /** A snapshot of the load counters (read at the window's start and end). */
  B.loadCounts = function () {
    return load ? { text: load.text, inserted: load.inserted, removed: load.removed, toggles: load.toggles, scrolls: load.scrolls, keys: document.getElementById('q').value.length } : null;
  };
})();
