/** The `page` message (client/pagePoll.ts pageMessage): no query or fragment unless kept, and cut to the protocol's limits. */
import t from 'tap';
import { pageMessage } from '../../../client/pagePoll.ts';
import { PAGE_TITLE_MAX_CHARS, PAGE_URL_MAX_CHARS, parseVisitorMessage } from '../../../protocol/control.ts';

const loc = (href: string) => {
  const u = new URL(href);
  return { href: u.href, origin: u.origin, pathname: u.pathname };
};

t.test('the query and fragment stay in the page unless keepUrlQuery', async (t) => {
  const where = loc('https://shop.example/cart?token=SECRET-CANARY#step2');
  t.same(pageMessage(where, 'Cart', false), { t: 'page', url: 'https://shop.example/cart', title: 'Cart' });
  t.same(pageMessage(where, 'Cart', true), { t: 'page', url: 'https://shop.example/cart?token=SECRET-CANARY#step2', title: 'Cart' });
});

t.test('long URLs and titles are cut to the limits the relay accepts', async (t) => {
  const msg = pageMessage(loc(`https://shop.example/${'a'.repeat(5000)}`), 't'.repeat(2000), false);
  t.equal(msg.url.length, PAGE_URL_MAX_CHARS);
  t.equal(msg.title.length, PAGE_TITLE_MAX_CHARS);
  t.ok(parseVisitorMessage(JSON.stringify(msg)).ok, 'the relay schema accepts it');
  const over = { ...msg, title: msg.title + 'x' };
  t.notOk(parseVisitorMessage(JSON.stringify(over)).ok, 'one more character would be refused (the limit is the schema\'s)');
});
