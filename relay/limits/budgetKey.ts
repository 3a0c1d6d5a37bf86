/**
 * The key a client address is budgeted under. An IPv6 end site gets a whole /64 (often far more),
 * so one budget per full IPv6 address would be one budget per attempt: IPv6 is keyed by its /64.
 * IPv4, and IPv4-mapped IPv6 (how a dual-stack socket reports an IPv4 peer), stay per address.
 * Only for budgets: the stored visitor metadata keeps the full address.
 */
import net from 'node:net';

/** The last IPv6 address asked for and its key: a visitor connect asks for one address's key three times (admission, new visitors, connection slot). */
let lastAddress = '';
let lastKey = '';

/** `2001:db8:1:2::/64` for any address in that /64; IPv4 (mapped or not) as dotted IPv4; anything else as is. */
export function budgetKey(address: string): string {
  // Every IPv6 text form has a ':': without one the address is its own key, no regex (node's isIPv6 is a long one).
  if (!address.includes(':')) return address;
  if (address === lastAddress) return lastKey;
  const key = ipv6Key(address);
  lastAddress = address;
  lastKey = key;
  return key;
}

function ipv6Key(address: string): string {
  const ip = address.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) is not part of the address
  if (!net.isIPv6(ip)) return address;
  const groups = expandIpv6(ip);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` and a dotted IPv4 tail expanded). */
function expandIpv6(ip: string): number[] {
  let s = ip.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}
