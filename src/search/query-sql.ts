/**
 * A parsed query as SQL over the index. The text terms that every result must match
 * (the query's top-level AND, or the whole query) become one FTS5 MATCH that drives the
 * query and ranks in the same pass: bm25 is computed once per matching message, and
 * messages that match no term are never visited. Other text terms (under NOT, or in an OR
 * with a filter) stay conditions `m.id IN (SELECT rowid FROM text WHERE text MATCH ?)`,
 * each evaluated once for the whole query, so AND, OR and NOT combine text and filters
 * freely.
 *
 * Ranking: bm25 of the query's positive text terms. FTS5's bm25 depends only on the
 * phrases of the expression (their document frequencies and their counts in the row),
 * not on the AND/OR between them, so scoring the driving `a AND b` gives each result the
 * same score as scoring `a OR b`; the driving expression is used for ranking only when it
 * holds all the positive terms, in the same order, else they are scored by one more MATCH.
 */
import type { SqlValue } from './sqlite.js';
import { bm25Weights } from './index-store.js';
import type { QueryNode, TextField } from './query-parser.js';

export interface Compiled { sql: string; params: SqlValue[] }

const columnsOf: Record<TextField, string> = { from: 'sender', to: 'to_', cc: 'cc_', subject: 'subject', list: 'list', filename: 'filename', body: 'body quoted' };

const bareWordColumns = 'subject body quoted sender to_ cc_ filename';

type TextNode = Extract<QueryNode, { kind: 'text' }>;

/** One text term as an FTS5 expression; tokens are quoted so no query character is ever
 * FTS5 syntax. */
export function ftsTerm(node: TextNode): string {
  const phrase = `"${node.tokens.map((t) => t.replace(/"/g, '""')).join(' ')}"${node.prefix ? ' *' : ''}`;
  // A bare word searches everything but the list column: a list's name ("Cake: a
  // shaper/fq_codel ...") would otherwise match every one of its messages.
  return `{${node.field ? columnsOf[node.field] : bareWordColumns}} : ${phrase}`;
}

/** The conditions of the tree over `messages m`; nodes in `driven` are already enforced by
 * the driving MATCH and compile to nothing. */
function compile(node: QueryNode, driven: ReadonlySet<QueryNode>): Compiled {
  if (driven.has(node)) return { sql: '1', params: [] };
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
      const inner = compile(node.child, driven);
      // A NULL timestamp must not make "NOT before:" unknown: undated mail is neither.
      return { sql: `NOT coalesce((${inner.sql}), 0)`, params: inner.params };
    }
    case 'and':
    case 'or': {
      const parts = node.children.map((c) => compile(c, driven));
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

/** A subtree of text terms only (no NOT, no filter) as one FTS5 expression, else null. */
function ftsExpression(node: QueryNode): string | null {
  if (node.kind === 'text') return `(${ftsTerm(node)})`;
  if (node.kind !== 'and' && node.kind !== 'or') return null;
  const parts = node.children.map(ftsExpression);
  if (parts.some((p) => p === null)) return null;
  return `(${parts.join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
}

/** Whether every message the tree selects matches at least one of its positive terms. */
function needsText(node: QueryNode): boolean {
  if (node.kind === 'text') return true;
  if (node.kind === 'and') return node.children.some(needsText);
  if (node.kind === 'or') return node.children.every(needsText);
  return false;
}

export interface QueryPlan {
  /** Common table expressions the FROM clause uses (`name AS ...`), or none. */
  ctes: Compiled[];
  /** The candidate messages `m`, with `s.score` when ranked (bm25, lower is better; NULL:
   * matches no positive term), as a FROM clause. */
  from: Compiled;
  /** The score of a candidate: `s.score`, or NULL for a query without text. */
  score: string;
  /** The remaining conditions over `m`. */
  where: Compiled;
  /** The positive terms as one expression, for snippets; null when there are none. */
  rankMatch: string | null;
}

const bm25 = `bm25(text, ${bm25Weights.join(', ')})`;

/** How a query tree is run: see the file comment. */
export function planQuery(tree: QueryNode): QueryPlan {
  const positive = positiveTerms(tree);
  const rankMatch = positive.length > 0 ? positive.map((t) => `(${t})`).join(' OR ') : null;
  const top = tree.kind === 'and' ? tree.children : [tree];
  const drivers = top.filter((c) => ftsExpression(c) !== null);
  const drivenTerms = drivers.flatMap((c) => positiveTerms(c));
  // CROSS JOIN: the FTS matches are the outer loop (SQLite keeps that join order), each
  // looked up in messages by primary key.
  const driving = (match: string): Compiled => ({ sql: `(SELECT rowid AS id, ${bm25} AS score FROM text WHERE text MATCH ?) s CROSS JOIN messages m ON m.id = s.id`, params: [match] });
  if (drivers.length > 0 && drivenTerms.join('\u0000') === positive.join('\u0000')) {
    const match = drivers.map((c) => ftsExpression(c)!).join(' AND ');
    return { ctes: [], from: driving(match), score: 's.score', where: compile(tree, new Set(drivers)), rankMatch };
  }
  const where = compile(tree, new Set());
  if (rankMatch === null) return { ctes: [], from: { sql: 'messages m', params: [] }, score: 'NULL', where, rankMatch };
  // Every result matches some positive term: those matches can drive, the conditions
  // filter them. Otherwise (`-x`, `x OR is:flagged`) every message is a candidate and
  // the scores of those that match are looked up in the scores computed once
  // (MATERIALIZED: not an FTS query per message).
  if (needsText(tree)) return { ctes: [], from: driving(rankMatch), score: 's.score', where, rankMatch };
  return {
    ctes: [{ sql: `scored AS MATERIALIZED (SELECT rowid AS id, ${bm25} AS score FROM text WHERE text MATCH ?)`, params: [rankMatch] }],
    from: { sql: 'messages m LEFT JOIN scored s ON s.id = m.id', params: [] },
    score: 's.score',
    where,
    rankMatch,
  };
}
