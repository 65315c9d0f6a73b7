/**
 * `GET /_raindrop/search?q=QUERY[&messages=1][&sort=newest][&limit=N][&offset=N]`: the
 * search index, which CouchDB cannot serve, on the app's origin. Behind the same login as
 * everything else: the browser's own cookie or Basic header must be able to read the
 * database upstream (this server asks CouchDB with them, never with its own login)
 * before the index answers. Errors are JSON like CouchDB's: {error, reason, fault}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRaindropError } from '../core/index.js';
import type { SearchOptions, SearchResult } from '../search/run-query.js';

export type SearchFunction = (query: string, options: SearchOptions) => SearchResult;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Cache-Control': 'private, no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

export async function serveSearch(req: IncomingMessage, res: ServerResponse, upstream: { origin: string; db: string }, search: SearchFunction, headers: Record<string, string>): Promise<void> {
  const auth: Record<string, string> = { Accept: 'application/json' };
  if (req.headers.cookie) auth.Cookie = req.headers.cookie;
  if (req.headers.authorization) auth.Authorization = req.headers.authorization;
  const check = await fetch(`${upstream.origin}/${encodeURIComponent(upstream.db)}`, { headers: auth });
  await check.body?.cancel();
  if (!check.ok) {
    const status = check.status === 401 || check.status === 403 ? check.status : 502;
    return send(res, status, { error: status === 502 ? 'bad_gateway' : 'unauthorized', reason: status === 502 ? `the CouchDB server answered ${check.status}` : 'log in first: search reads the same mail your login may read' }, headers);
  }
  const params = new URL(req.url ?? '/', 'http://app').searchParams;
  const int = (name: string) => {
    const v = params.get(name);
    return v === null || v === '' ? undefined : Number(v);
  };
  const limit = int('limit');
  const offset = int('offset');
  const sort = params.get('sort');
  if (sort !== null && sort !== 'relevance' && sort !== 'newest') return send(res, 400, { error: 'bad_request', reason: 'sort is relevance or newest', fault: 'bad-parameter' }, headers);
  try {
    const result = search(params.get('q') ?? '', {
      messages: params.get('messages') === '1' || params.get('messages') === 'true',
      ...(sort === null ? {} : { sort }),
      ...(limit === undefined ? {} : { limit }),
      ...(offset === undefined ? {} : { offset }),
    });
    send(res, 200, result, headers);
  } catch (err) {
    if (!isRaindropError(err)) throw err;
    const fault = typeof err.details?.fault === 'string' ? err.details.fault : 'bad-parameter';
    send(res, 400, { error: 'bad_request', reason: err.message, fault, code: err.code }, headers);
  }
}
