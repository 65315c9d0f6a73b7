/**
 * The one module that speaks to CouchDB (or Raindrop's embedded server): sessions,
 * documents by computed id, the few view queries the screens make, user-state writes and
 * the changes feed. Everything goes through CouchDB's HTTP API on the page's origin with
 * the session cookie; nothing else in the app calls fetch.
 */
import { docIdFor, keyTypeRange, type JsonValue, type RdKey } from './ids.js';
import { applyUserItem, type CouchDoc } from './user-state.js';

export type { CouchDoc } from './user-state.js';

export class CouchError extends Error {
  constructor(readonly status: number, readonly error: string, reason: string) {
    super(reason);
  }
}

export interface Where {
  /** Database name. */
  db: string;
  /** True when `raindrop serve` serves the app (its extra endpoints exist). */
  served: boolean;
}

/** Where the app runs: `/<db>/_design/<ddoc>/index.html` straight from CouchDB, or `/`
 * from `raindrop serve`, which names the database in a meta tag. */
export function locate(): Where {
  const direct = /^\/([^/]+)\/_design\/[^/]+\//.exec(location.pathname);
  if (direct?.[1]) return { db: decodeURIComponent(direct[1]), served: false };
  const meta = document.querySelector('meta[name="raindrop-db"]')?.getAttribute('content') ?? '';
  return { db: meta || 'raindrop', served: true };
}

let onUnauthorized: () => void = () => undefined;
/** Called when the server answers 401 to a request made with a session: it ended. */
export function whenSessionEnds(handler: () => void): void {
  onUnauthorized = handler;
}

/** Requests in flight, but for the live feed's long poll: `whenIdle` waits for none. */
let inFlight = 0;
let idleWaiters: Array<() => void> = [];

function settled(): void {
  inFlight--;
  if (inFlight > 0 || idleWaiters.length === 0) return;
  // A macrotask later: a screen that asks again as soon as an answer is in (the
  // conversation's second request) has asked by then, and its answer is rendered.
  setTimeout(() => {
    if (inFlight > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }, 0);
}

/**
 * Resolves once no request of the app is in flight (at the latest after `capMs`): what
 * can wait for the screen's own data (the live feed) starts then instead of competing
 * with it for the server and the browser.
 */
export function whenIdle(capMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (inFlight === 0) return void setTimeout(resolve, 0);
    idleWaiters.push(resolve);
    setTimeout(resolve, capMs);
  });
}

/** The database's `update_seq` as of the first documents read since the last take (the
 * live feed starts there: nothing written after the screen's data is missed, and the feed
 * needs no request of its own to learn where to start). */
let readSeq: string | number | undefined;
/** CouchDB answers `update_seq: null` to `_all_docs` with keys (a range has one): only a
 * real sequence is kept, else the feed asks `GET /DB`. */
function noteReadSeq(seq: unknown): void {
  if (readSeq === undefined && (typeof seq === 'string' || typeof seq === 'number')) readSeq = seq;
}
export function takeReadSeq(): string | number | undefined {
  const seq = readSeq;
  readSeq = undefined;
  return seq;
}

async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal, quiet401 = false, background = false): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { Accept: 'application/json', 'Content-Type': 'application/json' };
  }
  if (signal) init.signal = signal;
  if (background) return answer<T>(method, path, await fetch(path, init), quiet401);
  inFlight++;
  try {
    // Awaited here: the request is in flight until its body is read, not only its headers.
    return await answer<T>(method, path, await fetch(path, init), quiet401);
  } finally {
    settled();
  }
}

async function answer<T>(method: string, path: string, res: Response, quiet401: boolean): Promise<T> {
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: 'bad_response', reason: text.slice(0, 200) };
  }
  if (!res.ok) {
    const e = (data ?? {}) as { error?: string; reason?: string };
    if (res.status === 401 && path !== '/_session' && !quiet401) onUnauthorized();
    throw new CouchError(res.status, e.error ?? 'http_error', e.reason ?? `${method} ${path}: HTTP ${res.status}`);
  }
  return data as T;
}

const q = (params: Record<string, JsonValue | undefined>): string =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(typeof v === 'string' && k !== 'startkey' && k !== 'endkey' && k !== 'key' ? v : JSON.stringify(v))}`)
    .join('&');

export interface Session {
  name: string | null;
  roles: string[];
}

export const session = {
  async current(): Promise<Session> {
    const r = await call<{ userCtx: Session }>('GET', '/_session');
    return r.userCtx;
  },
  async login(name: string, password: string): Promise<Session> {
    const r = await call<{ name: string | null; roles: string[] }>('POST', '/_session', { name, password });
    return { name: r.name ?? name, roles: r.roles };
  },
  async logout(): Promise<void> {
    await call('DELETE', '/_session');
  },
};

export class Database {
  readonly base: string;
  /** `quiet`: a 401 is only this request's error, not "the session ended" (a prefetch
   * made before the session is known). */
  constructor(readonly where: Where, private readonly quiet = false) {
    this.base = `/${encodeURIComponent(where.db)}`;
  }

  private call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal, background = false): Promise<T> {
    return call<T>(method, path, body, signal, this.quiet, background);
  }

  /** Documents by id, in the order asked, undefined where missing or deleted. */
  async docs(ids: readonly string[]): Promise<Map<string, CouchDoc>> {
    const out = new Map<string, CouchDoc>();
    if (ids.length === 0) return out;
    const r = await this.call<{ rows: Array<{ id?: string; doc?: CouchDoc | null }>; update_seq?: unknown }>('POST', `${this.base}/_all_docs?include_docs=true&update_seq=true`, { keys: [...new Set(ids)] });
    noteReadSeq(r.update_seq);
    for (const row of r.rows) if (row.doc && row.id) out.set(row.id, row.doc);
    return out;
  }

  async doc(key: RdKey, schemaId: string): Promise<CouchDoc | undefined> {
    return (await this.docs([docIdFor(key, schemaId)])).get(docIdFor(key, schemaId));
  }

  /** Every document of one key type (all schemas), by id range: no view needed. */
  async byKeyType(keyType: string): Promise<CouchDoc[]> {
    const r = await this.call<{ rows: Array<{ doc?: CouchDoc }>; update_seq?: unknown }>('GET', `${this.base}/_all_docs?${q({ ...keyTypeRange(keyType), include_docs: true, update_seq: true })}`);
    noteReadSeq(r.update_seq);
    return r.rows.flatMap((row) => (row.doc ? [row.doc] : []));
  }

  async view<V>(ddoc: string, view: string, params: Record<string, JsonValue | undefined>): Promise<{ rows: Array<{ id: string; key: JsonValue; value: V; doc?: CouchDoc }> }> {
    return this.call('GET', `${this.base}/_design/${ddoc}/_view/${view}?${q(params)}`);
  }

  /** A view's rows for several exact keys in one request (POST {"keys": [...]}). */
  async viewKeys<V>(ddoc: string, view: string, keys: readonly JsonValue[], params: Record<string, JsonValue | undefined> = {}): Promise<{ rows: Array<{ id: string; key: JsonValue; value: V; doc?: CouchDoc }> }> {
    if (keys.length === 0) return { rows: [] };
    const query = q(params);
    return this.call('POST', `${this.base}/_design/${ddoc}/_view/${view}${query ? `?${query}` : ''}`, { keys });
  }

  /** Ids (no documents) of one key type: for picking a few documents of a range that
   * also holds big ones (extension code). */
  async idsOfKeyType(keyType: string): Promise<string[]> {
    const r = await this.call<{ rows: Array<{ id: string }> }>('GET', `${this.base}/_all_docs?${q(keyTypeRange(keyType))}`);
    return r.rows.map((row) => row.id);
  }

  /** How many changes follow `since` (the queue's lag behind the feed). CouchDB answers
   * `pending`; the embedded server does not, so its rows are counted up to `cap`. */
  async changesAfter(since: string | number, cap: number): Promise<{ ids: string[]; pending: number | undefined }> {
    const r = await this.call<{ results: Array<{ id: string }>; pending?: number }>('GET', `${this.base}/_changes?${q({ since: String(since), limit: cap })}`);
    return { ids: r.results.map((c) => c.id), pending: typeof r.pending === 'number' ? r.pending : undefined };
  }

  /**
   * Writes the user's value into one user-state document per key (rd.msg.seen, ...),
   * as `raindrop mark` does; a conflict re-reads and merges again.
   */
  async markItems(keys: readonly RdKey[], schemaId: string, fields: Record<string, JsonValue>): Promise<number> {
    let pending = [...keys];
    let written = 0;
    for (let attempt = 0; attempt < 5 && pending.length > 0; attempt++) {
      const stored = await this.docs(pending.map((k) => docIdFor(k, schemaId)));
      const docs = pending.flatMap((k) => {
        const next = applyUserItem(stored.get(docIdFor(k, schemaId)), k, schemaId, fields);
        return next ? [next] : [];
      });
      if (docs.length === 0) return written;
      const results = await this.call<Array<{ id: string; ok?: boolean; error?: string; reason?: string }>>('POST', `${this.base}/_bulk_docs`, { docs });
      const conflicted = new Set(results.filter((r) => r.error === 'conflict').map((r) => r.id));
      const failed = results.find((r) => r.error && r.error !== 'conflict');
      if (failed) throw new CouchError(403, failed.error ?? 'error', failed.reason ?? `writing ${failed.id} failed`);
      written += results.filter((r) => r.ok).length;
      pending = pending.filter((k) => conflicted.has(docIdFor(k, schemaId)));
    }
    return written;
  }

  /** Writes a whole document (drafts, outgoing mail): the caller built it. */
  async put(doc: CouchDoc): Promise<string> {
    const r = await this.call<{ rev: string }>('PUT', `${this.base}/${encodeURIComponent(doc._id)}`, doc);
    return r.rev;
  }

  async info(): Promise<{ update_seq: string | number; doc_count: number }> {
    return this.call('GET', this.base);
  }

  /** One long-poll of the changes feed: the ids changed since `since`, and the next
   * `since` to pass back. Sequences are opaque: never compared, only passed back. */
  async changesSince(since: string | number, signal: AbortSignal): Promise<{ ids: string[]; last: string | number }> {
    const r = await this.call<{ results: Array<{ id: string }>; last_seq: string | number }>(
      'GET', `${this.base}/_changes?${q({ feed: 'longpoll', since: String(since), timeout: 25000, limit: 500 })}`, undefined, signal, true);
    return { ids: r.results.map((c) => c.id), last: r.last_seq };
  }
}

/** One result of `raindrop serve`'s search endpoint (couchapp/API.md). */
export interface SearchHit {
  message_id: string;
  conversation_id: string;
  subject: string;
  from: { name: string; address: string };
  timestamp: number | null;
  snippet: string;
  highlights: Array<[number, number]>;
  seen: boolean;
  flagged: boolean;
  has_attachment: boolean;
  matching_messages: number;
}

export interface SearchPage {
  total: number;
  offset: number;
  limit: number;
  results: SearchHit[];
}

/** Searches through `raindrop serve` (GET /_raindrop/search); a query that does not parse
 * is a CouchError 400 whose message names the fault. */
export function search(query: string, options: { offset?: number; limit?: number; newest?: boolean }, signal?: AbortSignal): Promise<SearchPage> {
  const params = new URLSearchParams({ q: query, offset: String(options.offset ?? 0), limit: String(options.limit ?? 30) });
  if (options.newest) params.set('sort', 'newest');
  return call<SearchPage>('GET', `/_raindrop/search?${params.toString()}`, undefined, signal);
}
