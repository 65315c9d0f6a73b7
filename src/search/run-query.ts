/**
 * A parsed query run against the index: the tree becomes one SQL condition over the
 * message rows, each text term an FTS5 MATCH (`id IN (SELECT rowid FROM text WHERE text
 * MATCH ?)`), so AND, OR and NOT combine text and filters freely. Ranking (bm25) and the
 * snippet come from one more MATCH of the query's positive text terms, computed only for
 * the page shown.
 */
import { RaindropError, errorCodes } from '../core/index.js';
import type { SqlValue } from './sqlite.js';
import { bm25Weights, type SearchIndex } from './index-store.js';
import { searchLimits } from './limits.js';
import { mentionsDeleted, parseQuery, type QueryNode, type TextField } from './query-parser.js';

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

const columnsOf: Record<TextField, string> = { from: 'sender', to: 'to_', cc: 'cc_', subject: 'subject', list: 'list', filename: 'filename', body: 'body quoted' };

const bareWordColumns = 'subject body quoted sender to_ cc_ filename';

/** One text term as an FTS5 expression; tokens are quoted so no query character is ever
 * FTS5 syntax. */
function ftsTerm(node: Extract<QueryNode, { kind: 'text' }>): string {
  const phrase = `"${node.tokens.map((t) => t.replace(/"/g, '""')).join(' ')}"${node.prefix ? ' *' : ''}`;
  // A bare word searches everything but the list column: a list's name ("Cake: a
  // shaper/fq_codel ...") would otherwise match every one of its messages.
  return `{${node.field ? columnsOf[node.field] : bareWordColumns}} : ${phrase}`;
}

interface Compiled { sql: string; params: SqlValue[] }

function compile(node: QueryNode): Compiled {
  switch (node.kind) {
    case 'text':
      return { sql: 'm.id IN (SELECT rowid FROM text WHERE text MATCH ?)', params: [ftsTerm(node)] };
    case 'flag': {
      const sql = { unread: 'm.seen = 0', read: 'm.seen = 1', flagged: 'm.flagged = 1', archived: 'm.archived = 1', deleted: 'm.deleted = 1', attachment: 'm.has_attachment = 1' }[node.flag];
      return { sql, params: [] };
    }
    case 'date':
      return { sql: node.op === 'before' ? 'm.timestamp < ?' : 'm.timestamp >= ?', params: [node.seconds] };
    case 'in':
      if (node.grouping === 'inbox') return { sql: 'm.archived = 0', params: [] };
      if (node.grouping === 'all' || node.grouping === 'anywhere') return { sql: '1', params: [] };
      // A list's grouping is "list:<list id>"; "in:<list id>" works too.
      return { sql: '(m.grouping = ? OR m.grouping = ?)', params: [node.grouping, `list:${node.grouping}`] };
    case 'not': {
      const inner = compile(node.child);
      // A NULL timestamp must not make "NOT before:" unknown: undated mail is neither.
      return { sql: `NOT coalesce((${inner.sql}), 0)`, params: inner.params };
    }
    case 'and':
    case 'or': {
      const parts = node.children.map(compile);
      return { sql: `(${parts.map((p) => p.sql).join(node.kind === 'and' ? ' AND ' : ' OR ')})`, params: parts.flatMap((p) => p.params) };
    }
  }
}

/** The text terms that make a message a better match (not those under NOT). */
function positiveTerms(node: QueryNode, out: string[] = []): string[] {
  if (node.kind === 'text') out.push(ftsTerm(node));
  else if (node.kind === 'and' || node.kind === 'or') for (const c of node.children) positiveTerms(c, out);
  return out;
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
  const where = compile(tree);
  // Deleted mail stays out unless the query asks about it (is:deleted, -is:deleted...).
  const whereSql = mentionsDeleted(tree) ? where.sql : `${where.sql} AND m.deleted = 0`;
  const positive = positiveTerms(tree);
  const rankMatch = positive.length > 0 ? positive.map((t) => `(${t})`).join(' OR ') : null;
  const scoreJoin = rankMatch ? `LEFT JOIN (SELECT rowid, bm25(text, ${bm25Weights.join(', ')}) AS score FROM text WHERE text MATCH ?) r ON r.rowid = m.id` : '';
  const scoreCol = rankMatch ? 'r.score' : 'NULL';
  const params: SqlValue[] = [...(rankMatch ? [rankMatch] : []), ...where.params];
  const cols = 'm.id, m.message_id, m.conversation_id, m.timestamp, m.subject, m.from_name, m.from_address, m.grouping, m.seen, m.flagged, m.archived, m.deleted, m.has_attachment';
  let sql: string;
  if (mode === 'messages') {
    const order = sort === 'newest' || !rankMatch ? 'm.timestamp DESC NULLS LAST, m.id DESC' : 'score ASC NULLS LAST, m.timestamp DESC NULLS LAST, m.id DESC';
    sql = `SELECT ${cols}, ${scoreCol} AS score, 1 AS matching, count(*) OVER () AS total FROM messages m ${scoreJoin} WHERE ${whereSql} ORDER BY ${order} LIMIT ? OFFSET ?`;
  } else {
    // Per conversation: its best-scoring matching message (newest on a tie) stands for it;
    // bm25 is lower for better matches.
    const order = sort === 'newest' || !rankMatch ? 'latest DESC NULLS LAST, id DESC' : 'score ASC NULLS LAST, latest DESC NULLS LAST, id DESC';
    sql = `WITH hits AS (SELECT ${cols}, ${scoreCol} AS score FROM messages m ${scoreJoin} WHERE ${whereSql}),
      ranked AS (SELECT *, row_number() OVER (PARTITION BY conversation_id ORDER BY score ASC NULLS LAST, timestamp DESC NULLS LAST, id DESC) AS place,
        count(*) OVER (PARTITION BY conversation_id) AS matching, max(timestamp) OVER (PARTITION BY conversation_id) AS latest FROM hits)
      SELECT *, count(*) OVER () AS total FROM ranked WHERE place = 1 ORDER BY ${order} LIMIT ? OFFSET ?`;
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
 * part of a query): around the best match, else the start of the message's own text. */
function pageSnippets(index: SearchIndex, ids: ReadonlyArray<number | bigint>, rankMatch: string | null): Map<number, { snippet: string; highlights: Array<[number, number]> }> {
  const out = new Map<number, { snippet: string; highlights: Array<[number, number]> }>();
  if (ids.length === 0) return out;
  const list = ids.map(() => '?').join(', ');
  if (rankMatch) {
    const rows = index.db.prepare(`SELECT rowid AS id, snippet(text, -1, '${marks.open}', '${marks.close}', '…', ${searchLimits.snippetTokens}) AS s FROM text WHERE text MATCH ? AND rowid IN (${list})`).all(rankMatch, ...ids) as Array<{ id: number | bigint; s: string }>;
    for (const r of rows) out.set(Number(r.id), splitSnippet(r.s));
  }
  const rest = ids.filter((id) => !out.has(Number(id)));
  if (rest.length > 0) {
    const rows = index.db.prepare(`SELECT rowid AS id, substr(CASE WHEN body <> '' THEN body ELSE quoted END, 1, 200) AS s FROM text WHERE rowid IN (${rest.map(() => '?').join(', ')})`).all(...rest) as Array<{ id: number | bigint; s: string }>;
    for (const r of rows) out.set(Number(r.id), splitSnippet(r.s));
  }
  return out;
}
