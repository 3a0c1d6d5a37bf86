/**
 * The agent's token. Two ways in, neither through a URL the server sees:
 * - the demo login link `npm start` prints, `/agent/#token=<jwt>`: the fragment never leaves
 *   the browser; the token moves to sessionStorage and the fragment is removed at once
 *   (address bar, history);
 * - a token minted by the customer's backend (`iss` = the account id), pasted into the
 *   sign-in field.
 * sessionStorage: per tab, gone when the tab closes, never sent anywhere by the browser.
 * The token is sent only in Sec-WebSocket-Protocol and in the Authorization header of
 * this relay's API calls.
 */
const KEY = 'cobrowse.agentToken';
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Moves `#token=` from the address into sessionStorage, and removes the fragment. */
export function takeTokenFromFragment(): void {
  if (!location.hash) return;
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash !== null) {
    history.replaceState(null, '', location.pathname + location.search);
    if (JWT.test(fromHash)) sessionStorage.setItem(KEY, fromHash);
  }
}

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

/**
 * Accepts a pasted token, or a pasted sign-in link (`…/agent/#token=…`). Returns an error
 * message, or null when stored.
 */
export function setTokenFromInput(text: string): string | null {
  let t = text.trim();
  const i = t.indexOf('#token=');
  if (i >= 0) t = new URLSearchParams(t.slice(t.indexOf('#') + 1)).get('token') ?? '';
  if (/^bearer\s+/i.test(t)) t = t.replace(/^bearer\s+/i, '');
  if (!JWT.test(t)) return 'That does not look like an agent token (a JWT: three dot-separated parts).';
  const info = tokenInfo(t);
  if (info.exp && info.exp * 1000 < Date.now()) return 'That token has expired. Ask for a new one.';
  sessionStorage.setItem(KEY, t);
  return null;
}

/** The token's claims, for display only (the relay verifies it; this page cannot and does not). */
export function tokenInfo(token: string): { sub?: string; name?: string; exp?: number; iss?: string } {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json) as Record<string, unknown>;
    return {
      sub: typeof claims.sub === 'string' ? claims.sub : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      exp: typeof claims.exp === 'number' ? claims.exp : undefined,
      iss: typeof claims.iss === 'string' ? claims.iss : undefined,
    };
  } catch {
    return {};
  }
}
