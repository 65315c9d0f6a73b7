/**
 * The search query language (what Gmail, notmuch and mu users type) parsed into a tree:
 * a small tokenizer and a recursive-descent parser. No well-kept library parses Gmail's
 * syntax (search-query-parser handles key:value but not OR, NOT, parentheses and
 * phrases together), and the grammar is a dozen lines:
 *
 *   query  := or
 *   or     := and ('OR' and)*
 *   and    := unary+                 (juxtaposition is AND; 'AND' is accepted and ignored)
 *   unary  := ('-' | 'NOT') unary | '(' or ')' | term
 *   term   := [field ':'] (word | word '*' | '"phrase"')
 *
 * A malformed query is a RaindropError SEARCH_QUERY_INVALID whose details.fault names
 * the fault (unclosed-quote, unbalanced-parenthesis, unknown-field, bad-date, ...).
 */
import { RaindropError, errorCodes } from '../core/index.js';
import { queryTokens } from './text.js';

/** Fields matched as text (FTS5 columns). */
export const textFields = ['from', 'to', 'cc', 'subject', 'list', 'filename', 'body'] as const;
export type TextField = (typeof textFields)[number];

export type QueryNode =
  | { kind: 'text'; field: TextField | null; tokens: string[]; prefix: boolean; phrase: boolean }
  | { kind: 'flag'; flag: 'unread' | 'read' | 'flagged' | 'archived' | 'deleted' | 'attachment' }
  | { kind: 'date'; op: 'before' | 'after'; seconds: number }
  | { kind: 'in'; grouping: string }
  | { kind: 'and'; children: QueryNode[] }
  | { kind: 'or'; children: QueryNode[] }
  | { kind: 'not'; child: QueryNode };

export type QueryFault = 'empty' | 'unclosed-quote' | 'unbalanced-parenthesis' | 'dangling-operator' | 'unknown-field' | 'missing-value' | 'bad-value' | 'bad-date' | 'no-words' | 'too-long';

/** Long enough for any query a person types; stops a pathological one early. */
const maxQueryLength = 2000;

function fail(fault: QueryFault, message: string, at?: number): never {
  throw new RaindropError(errorCodes.SEARCH_QUERY_INVALID, `search query: ${message}`, { details: { fault, ...(at === undefined ? {} : { at }) } });
}

type Token =
  | { t: 'lparen' | 'rparen' | 'or' | 'not' | 'and'; at: number }
  | { t: 'term'; at: number; negated: boolean; field: string | null; value: string; quoted: boolean; prefix: boolean };

const fieldAliases: Record<string, string> = { from: 'from', to: 'to', cc: 'cc', subject: 'subject', list: 'list', filename: 'filename', body: 'body', has: 'has', is: 'is', in: 'in', before: 'before', after: 'after', older: 'before', newer: 'after' };

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '(') { out.push({ t: 'lparen', at: i++ }); continue; }
    if (c === ')') { out.push({ t: 'rparen', at: i++ }); continue; }
    const start = i;
    let negated = false;
    if (c === '-' && i + 1 < q.length && !/[\s)]/.test(q[i + 1]!)) { negated = true; i++; }
    if (negated && q[i] === '(') { out.push({ t: 'not', at: start }); continue; }
    let field: string | null = null;
    const fieldMatch = /^([A-Za-z]+):/.exec(q.slice(i));
    if (fieldMatch) {
      const name = fieldMatch[1]!.toLowerCase();
      const known = fieldAliases[name];
      if (!known) fail('unknown-field', `unknown field "${fieldMatch[1]}:" at character ${i + 1}; fields are from:, to:, cc:, subject:, list:, filename:, has:, is:, in:, before:, after: (put the word in quotes to search for it as text)`, i);
      field = known;
      i += fieldMatch[0].length;
      if (i >= q.length || /[\s)]/.test(q[i]!)) fail('missing-value', `"${fieldMatch[0]}" needs a value right after the colon, at character ${i + 1}`, i);
    }
    let value = '';
    let quoted = false;
    if (q[i] === '"') {
      const close = q.indexOf('"', i + 1);
      if (close < 0) fail('unclosed-quote', `the quote at character ${i + 1} is never closed`, i);
      value = q.slice(i + 1, close);
      quoted = true;
      i = close + 1;
    } else {
      const m = /^[^\s()"]+/.exec(q.slice(i));
      value = m ? m[0] : '';
      i += value.length;
      if (q[i] === '"') fail('unclosed-quote', `a quote inside a word at character ${i + 1}; put the whole phrase in quotes`, i);
    }
    let prefix = false;
    if (!quoted && value.endsWith('*')) { prefix = true; value = value.slice(0, -1); }
    else if (quoted && q[i] === '*') { prefix = true; i++; }
    if (!negated && field === null && !quoted && !prefix) {
      if (value === 'OR' || value === '|') { out.push({ t: 'or', at: start }); continue; }
      if (value === 'AND') { out.push({ t: 'and', at: start }); continue; }
      if (value === 'NOT') { out.push({ t: 'not', at: start }); continue; }
    }
    out.push({ t: 'term', at: start, negated, field, value, quoted, prefix });
  }
  return out;
}

function parseDate(value: string, at: number): number {
  const m = /^(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?$/.exec(value);
  if (!m) fail('bad-date', `"${value}" is not a date; write YYYY-MM-DD (or YYYY/MM/DD, or YYYY-MM)`, at);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), m[3] === undefined ? 1 : Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const check = new Date(ms);
  if (mo < 1 || mo > 12 || check.getUTCDate() !== d || check.getUTCMonth() !== mo - 1) fail('bad-date', `"${value}" is not a calendar date`, at);
  return ms / 1000;
}

function termNode(tok: Extract<Token, { t: 'term' }>): QueryNode {
  const { field, value, at } = tok;
  let node: QueryNode;
  if (field === 'has') {
    if (!/^attachments?$/i.test(value)) fail('bad-value', `has: takes "attachment", got "${value}"`, at);
    node = { kind: 'flag', flag: 'attachment' };
  } else if (field === 'is') {
    const v = value.toLowerCase();
    const flag = ({ unread: 'unread', read: 'read', seen: 'read', flagged: 'flagged', starred: 'flagged', archived: 'archived', deleted: 'deleted' } as const)[v as 'unread'];
    if (!flag) fail('bad-value', `is: takes unread, read, flagged (starred), archived or deleted, got "${value}"`, at);
    node = { kind: 'flag', flag };
  } else if (field === 'before' || field === 'after') {
    node = { kind: 'date', op: field, seconds: parseDate(value, at) };
  } else if (field === 'in') {
    if (value.trim() === '') fail('missing-value', 'in: needs a grouping (personal, sent, bulk, notifications..., list:<list id>)', at);
    node = { kind: 'in', grouping: value.toLowerCase() };
  } else {
    const tokens = queryTokens(value);
    if (tokens.length === 0) fail('no-words', `"${tok.quoted ? `"${value}"` : value}" at character ${at + 1} has no letters or digits to search for`, at);
    node = { kind: 'text', field: field as TextField | null, tokens, prefix: tok.prefix, phrase: tok.quoted || tokens.length > 1 };
  }
  return tok.negated ? { kind: 'not', child: node } : node;
}

/** Parses a query; throws SEARCH_QUERY_INVALID naming the fault. */
export function parseQuery(query: string): QueryNode {
  if (query.length > maxQueryLength) fail('too-long', `longer than ${maxQueryLength} characters`);
  const tokens = tokenize(query);
  if (tokens.length === 0) fail('empty', 'the query is empty; type some words or a field such as from:NAME');
  let pos = 0;
  const peek = () => tokens[pos];

  const parseOr = (): QueryNode => {
    const children = [parseAnd()];
    while (peek()?.t === 'or') {
      const at = peek()!.at;
      pos++;
      const next = peek();
      if (!next || next.t === 'or' || next.t === 'rparen' || next.t === 'and') fail('dangling-operator', `OR at character ${at + 1} has nothing after it`, at);
      children.push(parseAnd());
    }
    return children.length === 1 ? children[0]! : { kind: 'or', children };
  };
  const parseAnd = (): QueryNode => {
    const children: QueryNode[] = [];
    for (;;) {
      const tok = peek();
      if (!tok || tok.t === 'or' || tok.t === 'rparen') break;
      if (tok.t === 'and') {
        pos++;
        const next = peek();
        if (children.length === 0 || !next || next.t === 'or' || next.t === 'rparen' || next.t === 'and') fail('dangling-operator', `AND at character ${tok.at + 1} needs something on both sides`, tok.at);
        continue;
      }
      children.push(parseUnary());
    }
    const at = peek()?.at;
    if (children.length === 0) fail(peek()?.t === 'or' ? 'dangling-operator' : 'unbalanced-parenthesis', peek()?.t === 'or' ? `OR at character ${(at ?? 0) + 1} has nothing before it` : `empty parentheses or a ")" without "(" at character ${(at ?? 0) + 1}`, at);
    return children.length === 1 ? children[0]! : { kind: 'and', children };
  };
  const parseUnary = (): QueryNode => {
    const tok = peek()!;
    if (tok.t === 'not') {
      pos++;
      const next = peek();
      if (!next || next.t === 'or' || next.t === 'rparen' || next.t === 'and') fail('dangling-operator', `NOT at character ${tok.at + 1} has nothing after it`, tok.at);
      return { kind: 'not', child: parseUnary() };
    }
    if (tok.t === 'lparen') {
      pos++;
      const inner = parseOr();
      if (peek()?.t !== 'rparen') fail('unbalanced-parenthesis', `the "(" at character ${tok.at + 1} is never closed`, tok.at);
      pos++;
      return inner;
    }
    if (tok.t === 'term') {
      pos++;
      return termNode(tok);
    }
    return fail('dangling-operator', `unexpected "${tok.t}" at character ${tok.at + 1}`, tok.at);
  };

  const tree = parseOr();
  const rest = peek();
  if (rest) fail('unbalanced-parenthesis', `a ")" at character ${rest.at + 1} closes nothing`, rest.at);
  return tree;
}

/** Whether the query asks for deleted mail anywhere (deleted mail is left out otherwise). */
export function mentionsDeleted(node: QueryNode): boolean {
  if (node.kind === 'flag') return node.flag === 'deleted';
  if (node.kind === 'not') return mentionsDeleted(node.child);
  if (node.kind === 'and' || node.kind === 'or') return node.children.some(mentionsDeleted);
  return false;
}
