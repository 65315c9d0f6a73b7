import { RaindropError, errorCodes } from '../../core/index.js';
import { SearchIndex } from '../../search/index-store.js';
import { searchIndexPath } from '../../search/index-path.js';
import { catchUp } from '../../search/indexer.js';
import { searchLimits } from '../../search/limits.js';
import { runSearch, type SearchHit } from '../../search/run-query.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';

/** The snippet with its matches between » and « (plain text, safe in any terminal). */
function marked(hit: SearchHit): string {
  let out = '';
  let at = 0;
  for (const [start, end] of hit.highlights) {
    out += `${hit.snippet.slice(at, start)}»${hit.snippet.slice(start, end)}«`;
    at = end;
  }
  return out + hit.snippet.slice(at);
}

export const searchCommand: Command = {
  name: 'search',
  help: `Usage:
  raindrop search QUERY [--messages] [--newest] [--limit N] [--offset N] [--json]
  raindrop search --rebuild [QUERY]

Searches every message (subject, text, quoted text, names and addresses, attachment
names, mailing list). The index lives in the data directory; it is brought up to date
before each search (and kept up to date by "raindrop serve").

Query syntax (as in Gmail, notmuch, mu):
  word  "a phrase"  word*        words (all must match), a phrase, a prefix
  from: to: cc: subject:         a name or address in that header
  list: filename:                the mailing list (id or name), an attachment's name
  has:attachment                 messages with attachments
  is:unread is:read is:flagged is:archived is:deleted
  in:GROUPING                    personal, sent, bulk, notifications.github, list:ID, inbox
  before:YYYY-MM-DD after:YYYY-MM-DD   before that day / on or after it (UTC)
  a OR b   -word   NOT word   ( ... )
Deleted messages are left out unless the query mentions is:deleted.

Options:
  --messages     one result per message (default: per conversation)
  --newest       newest first (default: best match first)
  --limit N      results per page (default ${searchLimits.defaultPageSize}, at most ${searchLimits.maxPageSize})
  --offset N     skip the first N results (the next page)
  --rebuild      empty the index and build it again from the database

Examples:
  raindrop search 'from:felix switch driver after:2020-03-01'
  raindrop search '"kernel panic" OR oops -is:archived' --messages --json
  raindrop search 'list:openwrt-devel has:attachment filename:patch'`,
  options: { messages: { type: 'boolean' }, newest: { type: 'boolean' }, limit: { type: 'string' }, offset: { type: 'string' }, rebuild: { type: 'boolean' } },
  async run(ctx, values, positionals) {
    const query = positionals.join(' ').trim();
    if (query === '' && values.rebuild !== true) throw new RaindropError(errorCodes.USAGE, 'usage: raindrop search QUERY (see "raindrop search --help" for the syntax)');
    const number = (name: string, fallback: number) => {
      const v = values[name];
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new RaindropError(errorCodes.USAGE, `--${name} takes a whole number, got "${String(v)}"`);
      return n;
    };
    const limit = number('limit', searchLimits.defaultPageSize);
    const offset = number('offset', 0);
    const { server, db } = await openDatabase(ctx);
    try {
      const index = SearchIndex.open(searchIndexPath(ctx.config.dataDir, ctx.config.db));
      try {
        if (values.rebuild === true) {
          index.clear();
          ctx.output.say('rebuilding the search index from the database…');
        }
        const written = await catchUp({ db, index, logger: ctx.logger });
        if (values.rebuild === true) ctx.output.say(`search index rebuilt: ${index.count()} messages (${written} read)`);
        if (query === '') return exitCodes.ok;
        const result = runSearch(index, query, { messages: values.messages === true, sort: values.newest === true ? 'newest' : 'relevance', limit, offset });
        const lines = result.results.map((hit) => {
          const date = hit.timestamp === null ? '(no date)' : new Date(hit.timestamp * 1000).toISOString().slice(0, 10);
          const who = hit.from.name || hit.from.address;
          const count = result.mode === 'conversations' && hit.matching_messages > 1 ? ` (${hit.matching_messages})` : '';
          return `${date}  ${who}  ${hit.subject || '(no subject)'}${count}\n    <${hit.message_id}>  ${marked(hit)}`;
        });
        const shown = result.results.length === 0 ? 'no results' : `${result.offset + 1}–${result.offset + result.results.length} of ${result.total} ${result.mode}`;
        ctx.output.data(result, [...lines, shown].join('\n'));
        return exitCodes.ok;
      } finally {
        index.close();
      }
    } finally {
      await server.release();
    }
  },
};
