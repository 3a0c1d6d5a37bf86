/**
 * The client's address: the socket peer, or, when the peer is a proxy listed in
 * TRUST_PROXY, the right-most X-Forwarded-For entry that is not itself a trusted proxy.
 */
export function clientIp(peer: string, forwardedFor: string, trustProxy: readonly string[]): string {
  if (!forwardedFor || !trustProxy.includes(peer)) return peer;
  const hops = forwardedFor.split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trustProxy.includes(hops[i])) return hops[i].slice(0, 64);
  }
  return peer;
}
