/**
 * The fixture page for the embed cost benchmark: a deterministic, "ordinary" big page of about
 * 10,000 DOM nodes (elements + text nodes), generated as static markup so the browser parses it the
 * way it parses a real site. Parts: a header with navigation and a search field, article sections
 * (headings, paragraphs with inline links/emphasis, lists), a product grid, a price ticker (the
 * mutation load's text changes land there), a notification feed (its insertions and removals), a
 * 200-row table, a checkout form with every kind of field (masked by the embed), deeply nested
 * layout blocks, and a footer. A `<style>` of ~120 rules is inlined (rrweb serialises its text).
 *
 * The embed tag is included or not (mode "no embed" of the mutation benchmark); everything else,
 * including the bench's own page scripts, is identical in both variants.
 */

const WORDS = (
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we ' +
  'when your can said there use an each which she do how their if will up other about out many then them these so some her would make ' +
  'like him into time has look two more write go see number no way could people my than first water been call who oil its now find long ' +
  'down day did get come made may part order delivery account product shipping return basket invoice payment support customer'
).split(' ');

/** mulberry32: a tiny seeded PRNG, so every run generates the same page. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PageOptions {
  /** The embed `<script>` tag, or '' for the no-embed variant. */
  embedTag: string;
  /** Scripts that run before the embed (stub, instrumentation), in order. */
  headScripts: string[];
  /** Scripts loaded at the end of the body. */
  bodyScripts: string[];
}

/** Sizes, tuned so the page has ~10,000 element + text nodes (the bench prints the exact count). */
export const PAGE_SIZES = { navItems: 10, articles: 66, cards: 175, tickerItems: 50, feedItems: 10, tableRows: 212, nested: 24, nestedDepth: 8, lists: 14 };

export function bigPage(opts: PageOptions): string {
  const rnd = prng(0xc0b70);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const words = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
  const sentence = (n: number) => {
    const w = words(n);
    return w[0].toUpperCase() + w.slice(1);
  };
  const price = () => (5 + rnd() * 495).toFixed(2);
  const out: string[] = [];
  const S = PAGE_SIZES;

  out.push('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">');
  out.push('<title>Northwind Outfitters: gear, orders and support</title>\n<link rel="icon" href="data:,">');
  out.push(`<style>\n${css(rnd)}\n</style>`);
  for (const src of opts.headScripts) out.push(`<script src="${src}"></script>`);
  if (opts.embedTag) out.push(opts.embedTag);
  out.push('</head>\n<body class="shop theme-light">');

  // Header: logo, navigation, search (the typing target), account links.
  out.push('<header class="site-header"><div class="wrap"><a class="logo" href="/">Northwind <b>Outfitters</b></a><nav aria-label="Main"><ul class="nav">');
  for (let i = 0; i < S.navItems; i++) out.push(`<li class="nav-item" data-i="${i}"><a href="/c/${i}" aria-expanded="false">${sentence(1)}</a></li>`);
  out.push('</ul></nav><form class="search" role="search" action="/search"><label for="q">Search</label><input id="q" name="q" type="search" placeholder="Search products" autocomplete="off"><button type="submit">Go</button></form>');
  out.push('<ul class="account"><li><a href="/account">Account</a></li><li><a href="/basket">Basket <span class="badge">3</span></a></li></ul></div></header>\n');

  // Price ticker (text changes) and notification feed (insertions/removals).
  out.push('<aside class="live"><h2>Live prices</h2><ul class="ticker" id="ticker">');
  for (let i = 0; i < S.tickerItems; i++) out.push(`<li class="tick"><span class="sym">${sentence(1)}</span> <span class="amount">${price()}</span></li>`);
  out.push('</ul><h2>Notifications</h2><ul class="feed" id="feed">');
  for (let i = 0; i < S.feedItems; i++) out.push(`<li class="toast"><strong>${sentence(2)}</strong><span>${sentence(6)}</span><time>${i} min ago</time></li>`);
  out.push('</ul></aside>\n<main id="main">\n');

  // Article sections.
  for (let a = 0; a < S.articles; a++) {
    out.push(`<article class="post" id="post-${a}"><h2>${sentence(5)}</h2>`);
    for (let p = 0; p < 3; p++) {
      out.push(`<p>${sentence(12)} <a href="/p/${a}/${p}">${words(3)}</a> ${words(9)} <strong>${words(2)}</strong> ${words(14)}.</p>`);
    }
    out.push('<ul class="bullets">');
    for (let l = 0; l < 5; l++) out.push(`<li>${sentence(6)}</li>`);
    out.push('</ul></article>\n');
    if (a === Math.floor(S.articles / 2)) out.push(productGrid());
  }

  // Plain lists.
  for (let l = 0; l < S.lists; l++) {
    out.push(`<section class="list-block"><h3>${sentence(3)}</h3><ol>`);
    for (let i = 0; i < 10; i++) out.push(`<li><a href="/l/${l}/${i}">${sentence(4)}</a></li>`);
    out.push('</ol></section>\n');
  }

  // Orders table.
  out.push('<section class="orders"><h2>Recent orders</h2><table class="grid"><caption>Your last ${S.tableRows} orders</caption><thead><tr>');
  for (const h of ['Order', 'Date', 'Item', 'Qty', 'Total', 'Status']) out.push(`<th scope="col">${h}</th>`);
  out.push('</tr></thead><tbody>');
  for (let r = 0; r < S.tableRows; r++) {
    out.push(`<tr class="${r % 2 ? 'odd' : 'even'}"><td><a href="/o/${10000 + r}">#${10000 + r}</a></td><td>2026-${String(1 + (r % 12)).padStart(2, '0')}-${String(1 + (r % 28)).padStart(2, '0')}</td><td>${sentence(3)}</td><td>${1 + (r % 5)}</td><td>${price()}</td><td><span class="status s${r % 4}">${pick(['Shipped', 'Delivered', 'Processing', 'Returned'])}</span></td></tr>`);
  }
  out.push('</tbody></table></section>\n');

  // Checkout form: every field kind (the embed masks all of them).
  out.push('<section class="checkout"><h2>Checkout</h2><form id="checkout" action="/pay" method="post" autocomplete="on"><fieldset><legend>Contact</legend>');
  const field = (id: string, label: string, input: string) => out.push(`<div class="field"><label for="${id}">${label}</label>${input}</div>`);
  field('name', 'Full name', '<input id="name" name="name" type="text" value="Jane Example" autocomplete="name">');
  field('email', 'Email', '<input id="email" name="email" type="email" value="jane@example.com" placeholder="you@example.com">');
  field('tel', 'Phone', '<input id="tel" name="tel" type="tel" value="+44 20 7946 0000">');
  field('pw', 'Password', '<input id="pw" name="pw" type="password" value="hunter22" autocomplete="current-password">');
  out.push('</fieldset><fieldset><legend>Delivery</legend>');
  field('street', 'Street', '<input id="street" name="street" type="text" value="1 High Street">');
  field('city', 'City', '<input id="city" name="city" type="text" value="London">');
  field('zip', 'Postcode', '<input id="zip" name="zip" type="text" value="SW1A 1AA">');
  const countries = Array.from({ length: 24 }, (_, i) => `<option value="c${i}"${i === 3 ? ' selected' : ''}>${sentence(2)}</option>`).join('');
  field('country', 'Country', `<select id="country" name="country">${countries}</select>`);
  field('date', 'Delivery date', '<input id="date" name="date" type="date" value="2026-12-01">');
  field('notes', 'Notes', '<textarea id="notes" name="notes" rows="3">Leave it with the neighbour at number 3.</textarea>');
  out.push('</fieldset><fieldset><legend>Payment</legend>');
  field('card', 'Card number', '<input id="card" name="cardnumber" type="text" inputmode="numeric" autocomplete="cc-number" value="4111 1111 1111 1111">');
  field('cvc', 'CVC', '<input id="cvc" name="cvc" type="text" autocomplete="cc-csc" value="123">');
  for (const m of ['card', 'paypal', 'invoice']) out.push(`<label class="radio"><input type="radio" name="method" value="${m}"${m === 'card' ? ' checked' : ''}> ${m}</label>`);
  out.push('<label class="check"><input type="checkbox" name="news" checked> Send me news</label><label class="check"><input type="checkbox" name="terms"> I accept the terms</label>');
  out.push('<input type="hidden" name="csrf" value="c8f1d2e3a4b5"><button type="submit" class="primary">Pay now</button></fieldset></form></section>\n');

  // Deeply nested layout blocks (grid > row > col > card > ...).
  for (let n = 0; n < S.nested; n++) {
    let open = '';
    let close = '';
    for (let d = 0; d < S.nestedDepth; d++) {
      open += `<div class="l${d}${d % 3 === 0 ? ' flex' : ''}">`;
      close += '</div>';
    }
    out.push(`<section class="promo">${open}<h4>${sentence(3)}</h4><p>${sentence(10)} <em>${words(2)}</em></p><a class="cta" href="/promo/${n}">${sentence(2)}</a>${close}</section>\n`);
  }

  out.push('</main>\n<footer class="site-footer"><div class="cols">');
  for (let c = 0; c < 4; c++) {
    out.push(`<div class="col"><h5>${sentence(2)}</h5><ul>`);
    for (let i = 0; i < 8; i++) out.push(`<li><a href="/f/${c}/${i}">${sentence(2)}</a></li>`);
    out.push('</ul></div>');
  }
  out.push('</div><p class="legal">© 2026 Northwind Outfitters Ltd. All rights reserved.</p></footer>\n');
  for (const src of opts.bodyScripts) out.push(`<script src="${src}"></script>`);
  out.push('</body>\n</html>\n');
  return out.join('');

  function productGrid(): string {
    const g: string[] = ['<section class="products"><h2>Popular right now</h2><div class="grid-cards">'];
    for (let c = 0; c < S.cards; c++) {
      g.push(
        `<div class="card" data-sku="sku-${c}"><div class="media"><img alt="${words(2)}" width="160" height="120"></div><div class="body">` +
          `<h3>${sentence(3)}</h3><p class="desc">${sentence(10)}</p><div class="price"><span class="amount">${price()}</span><span class="cur">EUR</span></div>` +
          `<button type="button" class="add">Add to basket</button></div></div>`,
      );
    }
    g.push('</div></section>\n');
    return g.join('');
  }
}

function css(rnd: () => number): string {
  const rules: string[] = [
    '*,*::before,*::after{box-sizing:border-box}',
    'body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1d2330;background:#f7f8fa}',
    '.wrap{max-width:1180px;margin:0 auto;padding:0 16px;display:flex;align-items:center;gap:16px}',
    '.site-header{position:sticky;top:0;background:#fff;border-bottom:1px solid #dde1e8;z-index:10}',
    '.nav{display:flex;gap:12px;list-style:none;margin:0;padding:0}.nav-item.open a{color:#0a58ca;text-decoration:underline}',
    '.search input{padding:6px 10px;border:1px solid #c3c9d4;border-radius:6px}',
    '.live{float:right;width:260px;margin:12px;background:#fff;border:1px solid #dde1e8;padding:8px}',
    '.ticker,.feed{list-style:none;margin:0;padding:0}.toast{display:grid;border-bottom:1px solid #eee;padding:4px 0}',
    '.post{max-width:760px;margin:24px auto;background:#fff;padding:16px 24px;border-radius:8px}',
    '.grid-cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px;padding:12px}',
    '.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;overflow:hidden}',
    '.card.highlight{box-shadow:0 0 0 3px #ffb020}',
    '.grid{border-collapse:collapse;width:100%}.grid td,.grid th{padding:4px 8px;border-bottom:1px solid #e4e7ec}',
    '.status.s0{color:#0a7}.status.s1{color:#06c}.status.s2{color:#c80}.status.s3{color:#c33}',
    '.field{display:flex;flex-direction:column;margin:6px 0}.field input,.field select,.field textarea{padding:6px;border:1px solid #c3c9d4;border-radius:4px}',
    '.flex{display:flex;gap:8px}.promo{margin:12px auto;max-width:900px}',
    '.site-footer{background:#1d2330;color:#cdd3de;padding:24px}.site-footer .cols{display:grid;grid-template-columns:repeat(4,1fr)}',
  ];
  // Plus utility classes, as a CSS framework would ship them.
  for (let i = 0; i < 100; i++) {
    const p = Math.floor(rnd() * 6);
    rules.push(`.u-${i}{${['margin', 'padding', 'gap', 'top', 'left', 'width'][p]}:${(i % 12) * 4}px;color:#${Math.floor(rnd() * 0xffffff).toString(16).padStart(6, '0')}}`);
  }
  return rules.join('\n');
}
