/** Search results (#/search?q=...): one row per conversation, best match first (or
 * newest), with the snippet's matches marked; paged. Served by `raindrop serve` only. */
import { useEffect, useState } from 'preact/hooks';
import { search, type SearchHit, type SearchPage } from '../data/couch.js';
import { useApp } from '../ui/app-context.js';
import { shortDate } from '../ui/format.js';
import { go, href } from '../ui/router.js';
import { useKeys } from '../ui/keys.js';

const pageSize = 30;

/** The snippet as text nodes and <mark>s: never HTML from the index. */
function Snippet({ hit }: { hit: SearchHit }) {
  const parts = [];
  let at = 0;
  for (const [start, end] of hit.highlights) {
    parts.push(hit.snippet.slice(at, start), <mark>{hit.snippet.slice(start, end)}</mark>);
    at = end;
  }
  parts.push(hit.snippet.slice(at));
  return <span class="snippet">{parts}</span>;
}

export function SearchResults({ query, newest }: { query: string; newest: boolean }) {
  const app = useApp();
  const [page, setPage] = useState<SearchPage | undefined>();
  const [offset, setOffset] = useState(0);
  const [error, setError] = useState('');
  const [cursor, setCursor] = useState(0);
  useEffect(() => setOffset(0), [query, newest]);
  useEffect(() => {
    if (!app.db.where.served) {
      setError('Search needs the app opened from "raindrop serve".');
      return;
    }
    const abort = new AbortController();
    setError('');
    setPage(undefined);
    search(query, { offset, limit: pageSize, newest }, abort.signal).then(setPage, (e: Error) => {
      if (!abort.signal.aborted) setError(e.message);
    });
    return () => abort.abort();
  }, [query, newest, offset]);
  const rows = page?.results ?? [];
  const open = (hit: SearchHit | undefined) => hit && go(href.conversation(hit.conversation_id));
  useKeys({ j: () => setCursor((c) => Math.min(c + 1, rows.length - 1)), k: () => setCursor((c) => Math.max(c - 1, 0)), o: () => open(rows[cursor]), Enter: () => open(rows[cursor]) });
  return (
    <section class="search-results" aria-labelledby="search-title">
      <h1 id="search-title">Search: {query}</h1>
      <p class="search-sort">
        <a href={href.search(query, false)} aria-current={newest ? undefined : 'page'}>Best match</a>{' · '}
        <a href={href.search(query, true)} aria-current={newest ? 'page' : undefined}>Newest</a>
      </p>
      {error && <p class="error" role="alert">{error}</p>}
      {!error && !page && <p class="loading" aria-busy="true">Searching…</p>}
      {page && page.total === 0 && <p class="empty">Nothing matches.</p>}
      <ul class="conv-list">
        {rows.map((hit, i) => (
          <li key={hit.message_id} class={`${hit.seen ? '' : 'unread'}${i === cursor ? ' cursor' : ''}`}>
            <a href={href.conversation(hit.conversation_id)}>
              <span class="who">{hit.from.name || hit.from.address}{hit.matching_messages > 1 ? ` (${hit.matching_messages})` : ''}</span>
              <span class="subject">{hit.subject || '(no subject)'}</span>
              <Snippet hit={hit} />
              <span class="date">{hit.timestamp === null ? '' : shortDate(hit.timestamp)}</span>
            </a>
          </li>
        ))}
      </ul>
      {page && page.total > pageSize && (
        <nav class="pager" aria-label="Pages">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - pageSize))}>Newer results</button>
          <span>{offset + 1}–{offset + rows.length} of {page.total}</span>
          <button type="button" disabled={offset + pageSize >= page.total} onClick={() => setOffset(offset + pageSize)}>More results</button>
        </nav>
      )}
    </section>
  );
}

/** The header's search box: `/` focuses it, Enter searches. */
export function SearchBox({ initial }: { initial: string }) {
  const [value, setValue] = useState(initial);
  useEffect(() => setValue(initial), [initial]);
  useKeys({ '/': () => document.getElementById('search-box')?.focus() });
  return (
    <form class="search" role="search" onSubmit={(e) => { e.preventDefault(); if (value.trim()) go(href.search(value.trim(), false)); }}>
      <input id="search-box" type="search" name="q" aria-label="Search mail (press /)" placeholder="Search (/)" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
    </form>
  );
}
