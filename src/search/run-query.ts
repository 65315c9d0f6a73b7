/**
 * A parsed query run against the index (the SQL is planned by query-sql.ts): the matching
 * messages with their bm25 scores are computed once, then grouped by conversation with
 * plain aggregates; only the page's rows are read in full and given snippets.
 */
import { RaindropError, errorCodes } from '../core/index.js';
import type { SqlValue } from './sqlite.js';
import { type SearchIndex, ftsColumns, ftsOptions } from './index-store.js';
import { searchLimits } from './limits.js';
import { mentionsDeleted, parseQuery } from './query-parser.js';
import { planQuery } from './query-sql.js';

export interface SearchOptions {
  /** Conversations (default): one result per conversation with matching messages. */
  messages?: boolean;
  sort?: 'relevance' | 'newest';
  limit?: number;
  offset?: number;
}

export interface SearchHit {
  message_id: string;
  conversation_id: string;
  subject: string;
  from: { name: string; address: string };
  /** Seconds since the epoch, or null for an undated message. */
  timestamp: number | null;
  /** Text around the best match; `highlights` are [start, end) character offsets in it. */
  snippet: string;
  highlights: Array<[number, number]>;
  grouping: string | null;
  seen: boolean;
  flagged: boolean;
  archived: boolean;
  deleted: boolean;
  has_attachment: boolean;
  /** Conversations: how many of its messages match. */
  matching_messages: number;
}

export interface SearchResult {
  query: string;
  mode: 'conversations' | 'messages';
  sort: 'relevance' | 'newest';
  /** Results in all (conversations or messages), of which this page holds `results`. */
  total: number;
  offset: number;
  limit: number;
  results: SearchHit[];
}

const marks = { open: '\u0002', close: '\u0003' };

const cjk = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}ー々〆]/u;

/** The snippet as plain text plus highlight offsets; the spaces the index put between
 * CJK characters (text.ts) are taken out again. */
function splitSnippet(raw: string): { snippet: string; highlights: Array<[number, number]> } {
  const chars = [...raw.replace(/\s+/g, ' ').trim()];
  const neighbour = (from: number, step: number) => {
    for (let k = from; k >= 0 && k < chars.length; k += step) if (chars[k] !== marks.open && chars[k] !== marks.close) return chars[k]!;
    return '';
  };
  let snippet = '';
  const highlights: Array<[number, number]> = [];
  let start = -1;
  for (const [i, ch] of chars.entries()) {
    if (ch === marks.open) start = snippet.length;
    else if (ch === marks.close) {
      if (start >= 0) highlights.push([start, snippet.length]);
      start = -1;
    } else if (ch === ' ' && cjk.test(neighbour(i - 1, -1)) && cjk.test(neighbour(i + 1, 1))) continue;
    else snippet += ch;
  }
  return { snippet, highlights };
}

interface Row { id: number | bigint; message_id: string; conversation_id: string; timestamp: number | null; subject: string; from_name: string; from_address: string; grouping: string | null; seen: number; flagged: number; archived: number; deleted: number; has_attachment: number; score: number | null; matching: number | bigint; total: number | bigint }

/** Runs a query string: RaindropError SEARCH_QUERY_INVALID when it does not parse. */
export function runSearch(index: SearchIndex, query: string, options: SearchOptions = {}): SearchResult {
  const tree = parseQuery(query);
  const limit = options.limit ?? searchLimits.defaultPageSize;
  const offset = options.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > searchLimits.maxPageSize) throw new RaindropError(errorCodes.USAGE, `limit must be 1 to ${searchLimits.maxPageSize}, got ${limit}`);
  if (!Number.isInteger(offset) || offset < 0) throw new RaindropError(errorCodes.USAGE, `offset must be 0 or more, got ${offset}`);
  const sort = options.sort ?? 'relevance';
  const mode = options.messages === true ? 'messages' : 'conversations';
  const plan = planQuery(tree);
  const { rankMatch } = plan;
  // Deleted mail stays out unless the query asks about it (is:deleted, -is:deleted...).
  const whereSql = mentionsDeleted(tree) ? plan.where.sql : `${plan.where.sql} AND m.deleted = 0`;
  const ctes = [...plan.ctes.map((c) => c.sql), `hits AS MATERIALIZED (SELECT m.id AS id, m.conversation_id AS conversation_id, m.timestamp AS timestamp, ${plan.score} AS score FROM ${plan.from.sql} WHERE ${whereSql})`];
  const params: SqlValue[] = [...plan.ctes.flatMap((c) => c.params), ...plan.from.params, ...plan.where.params];
  const cols = 'm.id, m.message_id, m.conversation_id, m.timestamp, m.subject, m.from_name, m.from_address, m.grouping, m.seen, m.flagged, m.archived, m.deleted, m.has_attachment';
  const byScore = sort === 'relevance' && rankMatch !== null;
  let sql: string;
  if (mode === 'messages') {
    const order = (t: string) => `${byScore ? `${t}.score ASC NULLS LAST, ` : ''}${t}.timestamp DESC NULLS LAST, ${t}.id DESC`;
    sql = `WITH ${ctes.join(', ')}, page AS (SELECT id, score, timestamp FROM hits h ORDER BY ${order('h')} LIMIT ? OFFSET ?)
      SELECT ${cols}, page.score AS score, 1 AS matching, (SELECT count(*) FROM hits) AS total FROM page JOIN messages m ON m.id = page.id ORDER BY ${order('page')}`;
  } else {
    // Per conversation: its best-scoring matching message (newest on a tie, then the
    // highest id) stands for it; bm25 is lower for better matches. min() skips NULL, so a
    // conversation none of whose matches is ranked has best NULL and its newest stands.
    const order = (t: string) => `${byScore ? `${t}.best ASC NULLS LAST, ` : ''}${t}.latest DESC NULLS LAST, ${t}.rep DESC`;
    sql = `WITH ${ctes.join(', ')},
      conv AS MATERIALIZED (SELECT conversation_id, count(*) AS matching, max(timestamp) AS latest, min(score) AS best FROM hits GROUP BY conversation_id),
      ranked AS (SELECT c.*, (SELECT h.id FROM hits h WHERE h.conversation_id = c.conversation_id AND h.score IS c.best ORDER BY h.timestamp DESC NULLS LAST, h.id DESC LIMIT 1) AS rep FROM conv c),
      page AS (SELECT * FROM ranked r ORDER BY ${order('r')} LIMIT ? OFFSET ?)
      SELECT ${cols}, page.best AS score, page.matching AS matching, (SELECT count(*) FROM conv) AS total FROM page JOIN messages m ON m.id = page.rep ORDER BY ${order('page')}`;
  }
  let rows: Row[];
  try {
    rows = index.db.prepare(sql).all(...params, limit, offset) as unknown as Row[];
  } catch (err) {
    // The tokens are quoted, so FTS5 should accept every expression we build; if it does
    // not, say so rather than fail obscurely.
    throw new RaindropError(errorCodes.SEARCH_QUERY_INVALID, `search query: the index refused it (${(err as Error).message}); simplify the query`, { cause: err, details: { fault: 'engine' } });
  }
  const snippets = pageSnippets(index, rows.map((r) => r.id), rankMatch);
  return {
    query,
    mode,
    sort,
    total: rows.length > 0 ? Number(rows[0]!.total) : 0,
    offset,
    limit,
    results: rows.map((r) => ({
      message_id: r.message_id,
      conversation_id: r.conversation_id,
      subject: r.subject,
      from: { name: r.from_name, address: r.from_address },
      timestamp: r.timestamp,
      ...(snippets.get(Number(r.id)) ?? { snippet: '', highlights: [] }),
      grouping: r.grouping,
      seen: r.seen === 1,
      flagged: r.flagged === 1,
      archived: r.archived === 1,
      deleted: r.deleted === 1,
      has_attachment: r.has_attachment === 1,
      matching_messages: Number(r.matching),
    })),
  };
}

/** Snippets for the page only (snippet() over every match of a common word is the slow
 * part of a query): around the best match, else the start of the message's own text.
 * Large messages are cut from a short copy (searchLimits.snippetSourceChars says why). */
function pageSnippets(index: SearchIndex, ids: ReadonlyArray<number | bigint>, rankMatch: string | null): Map<number, { snippet: string; highlights: Array<[number, number]> }> {
  const out = new Map<number, { snippet: string; highlights: Array<[number, number]> }>();
  if (ids.length === 0) return out;
  const list = (n: number) => Array.from({ length: n }, () => '?').join(', ');
  const db = index.db;
  ids = ids.map((id) => BigInt(id));
  if (rankMatch) {
    const cap = searchLimits.snippetSourceChars;
    const sizes = db.prepare(`SELECT rowid AS id, max(${ftsColumns.map((c) => `length(${c})`).join(', ')}) AS n FROM text WHERE rowid IN (${list(ids.length)})`).all(...ids) as Array<{ id: number | bigint; n: number | null }>;
    const large = new Set(sizes.filter((r) => (r.n ?? 0) > cap).map((r) => Number(r.id)));
    const small = ids.filter((id) => !large.has(Number(id)));
    const snippetOf = (table: string) => `SELECT rowid AS id, snippet(${table}, -1, '${marks.open}', '${marks.close}', '…', ${searchLimits.snippetTokens}) AS s FROM ${table} WHERE ${table} MATCH ? AND rowid IN `;
    // Rows are kept only when asked for, and ids are bound as integers: a one-element
    // `rowid IN (?)` becomes `rowid = ?`, and FTS5 does not filter on a REAL there (what
    // better-sqlite3 makes of a JS number), so it returned, and snippeted, every match.
    const wanted = (asked: ReadonlyArray<number | bigint>) => {
      const set = new Set(asked.map(Number));
      return (r: { id: number | bigint }) => set.has(Number(r.id));
    };
    if (small.length > 0) {
      for (const r of (db.prepare(`${snippetOf('text')}(${list(small.length)})`).all(rankMatch, ...small) as Array<{ id: number | bigint; s: string }>).filter(wanted(small))) out.set(Number(r.id), splitSnippet(r.s));
    }
    if (large.size > 0) {
      // The same engine and tokenizer on a copy of the first `cap` characters of each
      // column, in a temporary table of this connection (emptied again at once).
      const bigIds = ids.filter((id) => large.has(Number(id)));
      db.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS temp.snippet_source USING fts5 (${ftsColumns.join(', ')}, ${ftsOptions})`);
      try {
        db.prepare(`INSERT INTO temp.snippet_source (rowid, ${ftsColumns.join(', ')}) SELECT rowid, ${ftsColumns.map((c) => `substr(${c}, 1, ${cap})`).join(', ')} FROM text WHERE rowid IN (${list(bigIds.length)})`).run(...bigIds);
        for (const r of (db.prepare(`${snippetOf('snippet_source')}(${list(bigIds.length)})`).all(rankMatch, ...bigIds) as Array<{ id: number | bigint; s: string }>).filter(wanted(bigIds))) out.set(Number(r.id), splitSnippet(r.s));
      } finally {
        db.exec('DELETE FROM temp.snippet_source');
      }
    }
  }
  const rest = ids.filter((id) => !out.has(Number(id)));
  if (rest.length > 0) {
    const rows = db.prepare(`SELECT rowid AS id, substr(CASE WHEN body <> '' THEN body ELSE quoted END, 1, 200) AS s FROM text WHERE rowid IN (${list(rest.length)})`).all(...rest) as Array<{ id: number | bigint; s: string }>;
    for (const r of rows) out.set(Number(r.id), splitSnippet(r.s));
  }
  return out;
}
