/**
 * The delete-visitor-data page (served at /delete/): the account's admin or DPO signs in with
 * the account secret key, finds a visitor by email, user id, visitor id or free text, sees
 * everything stored about each match, and erases it after an explicit confirmation.
 *
 * The secret key lives only in the `secretKey` variable below: never in a URL, Web Storage or
 * a cookie, and it leaves the page only in the Authorization header of same-origin API calls
 * (which is also why the page needs no CSRF token: nothing here relies on ambient cookies).
 * Data from the API is only ever written with textContent.
 */

import { VISITORS_API_PATH } from '../protocol/endpoints.ts';
import type { ErasureView, VisitorView as Visitor } from '../protocol/rest.ts';

type Kind = 'email' | 'userId' | 'visitorId' | 'q';

/** What a delete request will erase, and how the confirmation describes it. */
interface DeletePlan {
  body: { visitorIds?: string[]; userIds?: string[]; emails?: string[] };
  text: string;
  ids: string[];
}

class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const API = VISITORS_API_PATH;
const PAGE_SIZE = 50;
const TIMEOUT_MS = 20_000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const signinForm = $<HTMLFormElement>('signin');
const keyInput = $<HTMLInputElement>('key');
const app = $<HTMLElement>('app');
const searchForm = $<HTMLFormElement>('search');
const kindSelect = $<HTMLSelectElement>('kind');
const termInput = $<HTMLInputElement>('term');
const resultsTitle = $<HTMLHeadingElement>('results-title');
const results = $<HTMLOListElement>('results');
const more = $<HTMLDivElement>('more');
const bulk = $<HTMLDivElement>('bulk');
const deleteAllButton = $<HTMLButtonElement>('delete-all');
const statusEl = $<HTMLParagraphElement>('status');
const dialog = $<HTMLDialogElement>('confirm');
const confirmText = $<HTMLParagraphElement>('confirm-text');
const confirmList = $<HTMLUListElement>('confirm-list');
const confirmDelete = $<HTMLButtonElement>('confirm-delete');

/** The account secret key, in memory only. */
let secretKey: string | null = null;
/** The current search, for "Show more" and the bulk delete. */
let current: { kind: Kind; term: string; cursor?: string; shown: Visitor[] } | null = null;
let plan: DeletePlan | null = null;
let busy = false;

function announce(text: string, isError = false): void {
  statusEl.classList.toggle('error', isError);
  // Re-set even when unchanged so screen readers announce a repeated message.
  statusEl.textContent = '';
  statusEl.textContent = text;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function setBusy(on: boolean): void {
  busy = on;
  app.setAttribute('aria-busy', String(on));
  for (const b of document.querySelectorAll<HTMLButtonElement>('form button, #app button, dialog button')) b.disabled = on;
}

async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  if (!secretKey) throw new ApiFailure(401, 'unauthorized', 'Not signed in');
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${secretKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
      signal: abort.signal,
    });
  } catch {
    throw new ApiFailure(0, 'network', abort.signal.aborted ? 'The relay did not answer in time. Try again.' : 'Could not reach the relay. Check your connection and try again.');
  } finally {
    clearTimeout(timer);
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw new ApiFailure(res.status, 'bad_response', `Unexpected answer from the relay (HTTP ${res.status}).`);
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof err?.code === 'string' ? err.code : 'error';
    const message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`;
    throw new ApiFailure(res.status, code, message);
  }
  return json as T;
}

/** A message for people, from an API failure. */
function explain(err: unknown, signingIn: boolean): string {
  if (!(err instanceof ApiFailure)) return `Something went wrong: ${(err as Error)?.message ?? String(err)}`;
  if (err.status === 401) return signingIn ? 'Wrong secret key. Check it and try again.' : 'The secret key was not accepted any more. Sign in again.';
  if (err.status === 429) return 'Too many requests. Wait a moment and try again.';
  if (err.status === 400) return `The relay refused the request: ${err.message}`;
  if (err.status >= 500) return `The relay could not do it (${err.code}): ${err.message}. Try again later.`;
  if (err.status === 0 || err.code === 'bad_response') return err.message;
  return `Error ${err.status} (${err.code}): ${err.message}`;
}

function signOut(message: string, isError = false): void {
  secretKey = null;
  current = null;
  plan = null;
  if (dialog.open) dialog.close();
  results.replaceChildren();
  resultsTitle.hidden = true;
  more.hidden = true;
  bulk.hidden = true;
  termInput.value = '';
  app.hidden = true;
  signinForm.hidden = false;
  announce(message, isError);
  keyInput.focus();
}

signinForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (busy) return;
  const key = keyInput.value.trim();
  if (!/^sk_\S+$/.test(key)) {
    keyInput.setAttribute('aria-invalid', 'true');
    announce('That is not an account secret key: it starts with sk_.', true);
    keyInput.focus();
    return;
  }
  secretKey = key;
  setBusy(true);
  announce('Checking the key…');
  try {
    await api('GET', `${API}?limit=1`); // any authenticated call proves the key
    keyInput.value = ''; // from here on the key is only in `secretKey`
    keyInput.removeAttribute('aria-invalid');
    signinForm.hidden = true;
    app.hidden = false;
    announce('Signed in. Search for the visitor whose data you want to delete.');
    termInput.focus();
  } catch (err) {
    secretKey = null;
    keyInput.setAttribute('aria-invalid', 'true');
    announce(explain(err, true), true);
    keyInput.focus();
    keyInput.select();
  } finally {
    setBusy(false);
  }
});

$('signout').addEventListener('click', () => signOut('Signed out. The key has been forgotten.'));

const KIND_LABEL: Record<Kind, string> = { email: 'email', userId: 'user id', visitorId: 'visitor id', q: 'text' };

searchForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (busy) return;
  const kind = kindSelect.value as Kind;
  const term = termInput.value.trim();
  if (!term) {
    announce('Type what to search for.', true);
    termInput.focus();
    return;
  }
  current = { kind, term, shown: [] };
  results.replaceChildren();
  await loadPage(true);
});

$('load-more').addEventListener('click', () => void loadPage(false));

async function loadPage(first: boolean): Promise<void> {
  if (!current || busy) return;
  const search = current;
  const params = new URLSearchParams({ [search.kind]: search.term, limit: String(PAGE_SIZE) });
  if (!first && search.cursor) params.set('cursor', search.cursor);
  setBusy(true);
  announce(first ? 'Searching…' : 'Loading more…');
  try {
    const page = await api<{ items: Visitor[]; nextCursor?: string }>('GET', `${API}?${params}`);
    if (current !== search) return;
    search.cursor = page.nextCursor;
    for (const v of page.items) {
      if (search.shown.some((s) => s.visitorId === v.visitorId)) continue;
      search.shown.push(v);
      results.append(renderVisitor(v));
    }
    const n = search.shown.length;
    announce(n === 0
      ? `No visitor records found for ${KIND_LABEL[search.kind]} “${search.term}”.`
      : `${plural(n, 'visitor record', 'visitor records')} found${search.cursor ? ' so far; more are available' : ''}.`);
  } catch (err) {
    handleError(err);
  } finally {
    setBusy(false);
    updateLists();
  }
}

function updateLists(): void {
  const n = current?.shown.length ?? 0;
  resultsTitle.hidden = n === 0;
  resultsTitle.textContent = current ? `Matches for ${KIND_LABEL[current.kind]} “${current.term}”` : 'Matches';
  more.hidden = !current?.cursor;
  // The bulk button only when there is more than the one record a row button already covers.
  bulk.hidden = !current || (n < 2 && !current.cursor);
  if (current && !bulk.hidden) {
    deleteAllButton.textContent = current.kind === 'email' || current.kind === 'userId'
      ? `Delete every record with this ${KIND_LABEL[current.kind]}…`
      : `Delete all ${n} shown…`;
  }
}

function handleError(err: unknown): void {
  if (err instanceof ApiFailure && err.status === 401) signOut(explain(err, false), true);
  else announce(explain(err, false), true);
}

function field(dl: HTMLDListElement, label: string, value: string | undefined, opts: { mono?: boolean; title?: string } = {}): void {
  const dt = document.createElement('dt');
  dt.textContent = label;
  const dd = document.createElement('dd');
  dd.textContent = value === undefined || value === '' ? '—' : value;
  if (opts.mono) dd.className = 'mono';
  if (opts.title) dd.title = opts.title;
  dl.append(dt, dd);
}

function when(iso: string): { text: string; title: string } {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? { text: iso, title: iso } : { text: d.toLocaleString(), title: d.toISOString() };
}

function renderVisitor(v: Visitor): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.visitorId = v.visitorId;
  const dl = document.createElement('dl');
  field(dl, 'Visitor id', v.visitorId, { mono: true });
  field(dl, 'IP address', v.ip, { mono: true });
  field(dl, 'Last URL', v.lastUrl);
  const first = when(v.firstSeen);
  const last = when(v.lastSeen);
  field(dl, 'First seen', first.text, { title: first.title });
  field(dl, 'Last seen', last.text, { title: last.title });
  field(dl, 'User id', v.userId);
  field(dl, 'Name', v.name);
  field(dl, 'Email', v.email);
  if (v.lookupCode) field(dl, 'Lookup code', v.lookupCode, { mono: true });
  field(dl, 'Online now', v.online ? 'Yes' : 'No');
  const actions = document.createElement('div');
  actions.className = 'actions';
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'danger';
  del.textContent = 'Delete…';
  del.setAttribute('aria-label', `Delete visitor ${v.visitorId}…`);
  del.addEventListener('click', () =>
    ask({ body: { visitorIds: [v.visitorId] }, text: 'This deletes everything stored about this visitor:', ids: [v.visitorId] }));
  actions.append(del);
  li.append(dl, actions);
  return li;
}

deleteAllButton.addEventListener('click', () => {
  if (!current) return;
  const ids = current.shown.map((v) => v.visitorId);
  if (current.kind === 'email' || current.kind === 'userId') {
    const unloaded = current.cursor ? ', and any not loaded yet' : '';
    ask({
      body: current.kind === 'email' ? { emails: [current.term] } : { userIds: [current.term] },
      text: `This deletes every visitor record with ${KIND_LABEL[current.kind]} “${current.term}” (${plural(ids.length, 'record', 'records')} shown${unloaded}):`,
      ids,
    });
  } else {
    ask({ body: { visitorIds: ids }, text: `This deletes the ${plural(ids.length, 'visitor record', 'visitor records')} shown:`, ids });
  }
});

const LIST_MAX = 10;

function ask(p: DeletePlan): void {
  if (busy) return;
  plan = p;
  confirmText.textContent = p.text;
  confirmList.replaceChildren(
    ...p.ids.slice(0, LIST_MAX).map((id) => {
      const li = document.createElement('li');
      li.textContent = id;
      return li;
    }),
  );
  if (p.ids.length > LIST_MAX) {
    const li = document.createElement('li');
    li.textContent = `… and ${p.ids.length - LIST_MAX} more`;
    confirmList.append(li);
  }
  dialog.showModal(); // focus goes to Cancel (autofocus); Escape cancels
}

$('confirm-cancel').addEventListener('click', () => dialog.close('cancel'));
dialog.addEventListener('cancel', (e) => {
  if (busy) e.preventDefault(); // Escape cannot hide a deletion that is under way
});
dialog.addEventListener('close', () => {
  if (dialog.returnValue !== 'delete') {
    plan = null;
    if (!busy) announce('Nothing was deleted.');
  }
  dialog.returnValue = '';
});

confirmDelete.addEventListener('click', async () => {
  if (!plan || busy) return;
  const p = plan;
  plan = null;
  setBusy(true);
  announce('Deleting…');
  try {
    const out = await api<Partial<ErasureView>>('POST', `${API}/delete`, p.body);
    const n = typeof out.deleted === 'number' ? out.deleted : 0;
    const scrubbed = typeof out.activityScrubbed === 'number' ? out.activityScrubbed : 0;
    dialog.close('delete');
    forget(p);
    // The admin must see all an erasure did: the records, and the person's entries in the activity log.
    const records = n === 0 ? 'Deleted 0 visitor records: they were already gone.' : `Deleted ${plural(n, 'visitor record', 'visitor records')}.`;
    announce(`${records} ${plural(scrubbed, 'activity log entry', 'activity log entries')} anonymised (identifiers removed).`);
  } catch (err) {
    dialog.close('delete');
    handleError(err);
  } finally {
    setBusy(false);
    updateLists();
    if (!app.hidden) (current?.shown.length ? resultsTitle : termInput).focus();
  }
});

/** Removes deleted records from the list (the API said they are gone). */
function forget(p: DeletePlan): void {
  if (!current) return;
  const gone = new Set(p.ids);
  if (p.body.emails || p.body.userIds) current.cursor = undefined; // everything for that email / user id is gone
  current.shown = current.shown.filter((v) => !gone.has(v.visitorId));
  for (const li of Array.from(results.children) as HTMLElement[]) if (gone.has(li.dataset.visitorId ?? '')) li.remove();
}
