/**
 * The visitor list: `GET /api/v1/visitors` with the agent's token, polled.
 *
 * Presence by polling, every POLL_MS (3 s) while the tab is visible, at once when the search
 * changes or the tab becomes visible again. A presence push over the agent socket would need a
 * new relay message and a subscription per account; polling a cheap indexed query is enough
 * for a support desk (documented in docs/agent-viewer.md).
 *
 * Search: six digits (spaces, dashes or dots allowed: "477 005") are a lookup code (`code=`); anything else is `q=` (user id, name, email,
 * URL), and a string shaped like a visitor id is also looked up by id. Online visitors first,
 * then recent offline ones (last RECENT_DAYS days), marked offline.
 *
 * Visitor data (name, email, URL) comes from customer pages: it is untrusted and only ever
 * written with textContent.
 */
import { VISITORS_API_PATH } from '../protocol/endpoints.ts';
import { normalizeLookupCode } from '../protocol/lookupCode.ts';
import type { VisitorView as VisitorItem } from '../protocol/rest.ts';
export type { VisitorItem };

export const POLL_MS = 3000;
const RECENT_DAYS = 7;
const LIMIT = 100;

export class AuthError extends Error {}

export class VisitorList {
  private query = '';
  private timer?: ReturnType<typeof setTimeout>;
  private debounce?: ReturnType<typeof setTimeout>;
  private running = false;
  private seq = 0;
  private items: VisitorItem[] = [];
  /** The visitor being watched (highlighted in the list). */
  current?: string;

  constructor(
    private readonly el: { list: HTMLElement; search: HTMLInputElement; status: HTMLElement },
    private readonly token: () => string | null,
    private readonly onJoin: (v: VisitorItem) => void,
    private readonly onAuthError: (message: string) => void,
  ) {
    el.search.addEventListener('input', () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.setQuery(el.search.value), 250);
    });
    el.search.form?.addEventListener('submit', (e) => {
      e.preventDefault();
      this.setQuery(el.search.value);
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.running) void this.refresh();
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.refresh();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  setQuery(q: string): void {
    this.query = q.trim();
    void this.refresh();
  }

  /** Marks the watched visitor. */
  setCurrent(visitorId: string | undefined): void {
    this.current = visitorId;
    this.render();
  }

  async refresh(): Promise<void> {
    clearTimeout(this.timer);
    const mine = ++this.seq;
    try {
      const items = await this.fetchAll(this.query);
      if (mine !== this.seq) return;
      this.items = items;
      this.el.status.textContent = '';
      this.render();
    } catch (err) {
      if (mine !== this.seq) return;
      if (err instanceof AuthError) {
        this.stop();
        this.onAuthError(err.message);
        return;
      }
      this.el.status.textContent = `Could not load visitors: ${(err as Error).message}. Retrying…`;
    } finally {
      if (this.running && mine === this.seq && document.visibilityState !== 'hidden') this.timer = setTimeout(() => void this.refresh(), POLL_MS);
    }
  }

  private async fetchAll(query: string): Promise<VisitorItem[]> {
    const base = { limit: String(LIMIT), sinceDays: String(RECENT_DAYS) };
    const searches: Record<string, string>[] = [];
    const code = normalizeLookupCode(query);
    if (code) searches.push({ code });
    else {
      searches.push(query ? { ...base, q: query } : base);
      if (/^[A-Za-z0-9_-]{12,64}$/.test(query)) searches.push({ visitorId: query });
    }
    const pages = await Promise.all(searches.map((s) => this.get(new URLSearchParams(s))));
    const byId = new Map<string, VisitorItem>();
    for (const page of pages) for (const v of page) byId.set(v.visitorId, v);
    return [...byId.values()].sort((a, b) => Number(b.online) - Number(a.online) || b.lastSeen.localeCompare(a.lastSeen));
  }

  private async get(q: URLSearchParams): Promise<VisitorItem[]> {
    const token = this.token();
    if (!token) throw new AuthError('Signed out.');
    const res = await fetch(`${VISITORS_API_PATH}?${q}`, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store', credentials: 'omit' });
    const body = (await res.json().catch(() => ({}))) as { items?: VisitorItem[]; error?: { code: string; message: string } };
    if (res.status === 401) {
      throw new AuthError(body.error?.code === 'token_expired' ? 'Your agent token has expired. Sign in again.' : 'The relay did not accept your agent token. Sign in again.');
    }
    if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
    return Array.isArray(body.items) ? body.items : [];
  }

  private render(): void {
    const list = this.el.list;
    const frag = document.createDocumentFragment();
    const online = this.items.filter((v) => v.online);
    const offline = this.items.filter((v) => !v.online);
    if (!this.items.length) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = this.query ? 'No visitor matches.' : 'No visitors in the last 7 days.';
      frag.append(p);
    }
    for (const [title, group] of [['Online', online], ['Recently seen', offline]] as const) {
      if (!group.length) continue;
      const h = document.createElement('h3');
      h.textContent = `${title} (${group.length})`;
      const ul = document.createElement('ul');
      for (const v of group) ul.append(this.row(v));
      frag.append(h, ul);
    }
    list.replaceChildren(frag);
  }

  private row(v: VisitorItem): HTMLLIElement {
    const li = document.createElement('li');
    li.className = `visitor ${v.online ? 'online' : 'offline'}`;
    li.dataset.visitorId = v.visitorId;
    if (v.visitorId === this.current) li.setAttribute('aria-current', 'true');
    const who = document.createElement('div');
    who.className = 'who';
    const dot = document.createElement('span');
    dot.className = 'presence';
    dot.textContent = v.online ? 'online' : 'offline';
    const name = document.createElement('strong');
    // The visitor id is in the details line; repeating a piece of it as the name showed it twice.
    name.textContent = v.name || v.userId || v.email || 'Anonymous visitor';
    who.append(dot, ' ', name);
    const details = document.createElement('div');
    details.className = 'details';
    const parts = [v.userId && `id ${v.userId}`, v.email, v.lookupCode && `code ${v.lookupCode}`, `visitor ${v.visitorId}`].filter(Boolean) as string[];
    details.textContent = parts.join(' · ');
    const url = document.createElement('div');
    url.className = 'url';
    url.textContent = v.lastUrl ?? '';
    url.title = v.lastUrl ?? '';
    const seen = document.createElement('div');
    seen.className = 'seen';
    seen.textContent = v.online ? 'here now' : `last seen ${ago(v.lastSeen)}`;
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'watch';
    btn.textContent = v.visitorId === this.current ? 'Watching' : 'Watch';
    btn.disabled = !v.online || v.visitorId === this.current;
    btn.setAttribute('aria-label', `Watch ${name.textContent}`);
    btn.addEventListener('click', () => this.onJoin(v));
    li.append(who, details, url, seen, btn);
    return li;
  }
}

function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}
