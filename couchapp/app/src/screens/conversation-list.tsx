/** A grouping's inbox: one view query per page (startkey paging, newest first), rows
 * with participants, subject, preview, count, unread, flag, attachment marker and date;
 * select several and act on them. Live on conversation summaries. */
import { useEffect, useState } from 'preact/hooks';
import { actions, convIdOf, liveMessageIds, loadGroupingName, loadPage, type ConvRow, type Page } from '../data/mail.js';
import type { JsonValue } from '../data/ids.js';
import { useApp, useLive } from '../ui/app-context.js';
import { participants, shortDate } from '../ui/format.js';
import { go, href } from '../ui/router.js';
import { useKeys } from '../ui/keys.js';
import { runAction, type Act } from '../ui/actions.js';

export function ConversationList({ grouping }: { grouping: string }) {
  const app = useApp();
  const [page, setPage] = useState<Page | undefined>();
  const [starts, setStarts] = useState<Array<{ key: JsonValue; id: string } | undefined>>([undefined]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [cursor, setCursor] = useState(0);
  const [error, setError] = useState('');
  // Rows archived or deleted here leave at once; the queue confirms through the feed.
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const start = starts[starts.length - 1];
  const reload = () => loadPage(app.db, grouping, start).then(setPage, (e: Error) => setError(e.message));
  useEffect(() => {
    setPage(undefined);
    void reload();
  }, [grouping, start]);
  const [name, setName] = useState(grouping.replace(/^list:/, ''));
  useEffect(() => {
    setName(grouping.replace(/^list:/, ''));
    // The id stands in until the name is in (or if it cannot be read).
    loadGroupingName(app.db, grouping).then(setName, () => undefined);
  }, [grouping]);
  useEffect(() => {
    setStarts([undefined]);
    setSelected(new Set());
    setCursor(0);
  }, [grouping]);
  useLive(['rd.conv.summary'], reload);

  const rows = (page?.rows ?? []).filter((r) => !hidden.has(r.summary._id));
  const chosen = (): ConvRow[] => {
    const sel = rows.filter((r) => selected.has(r.summary._id));
    return sel.length > 0 ? sel : rows[cursor] ? [rows[cursor]] : [];
  };
  const act = (what: Act) => {
    const convs = chosen();
    if (convs.length === 0) return;
    const ids = convs.flatMap((r) => (what === 'unread' ? [r.summary.latest_id] : liveMessageIds(r.summary)));
    const convIds = convs.map((r) => r.summary._id);
    const leaves = what === 'archive' || what === 'delete';
    if (leaves) setHidden((h) => new Set([...h, ...convIds]));
    void runAction(app, what, ids, convs.length, reload, () => {
      setHidden((h) => new Set([...h].filter((id) => !convIds.includes(id))));
      void reload();
    });
    setSelected(new Set());
  };
  const toggle = (id: string) => setSelected((s) => {
    const n = new Set(s);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    return n;
  });
  const open = () => rows[cursor] && go(href.conversation(convIdOf(rows[cursor].summary), grouping));
  useKeys({
    j: () => setCursor((c) => Math.min(c + 1, rows.length - 1)),
    k: () => setCursor((c) => Math.max(c - 1, 0)),
    o: open, Enter: open,
    u: () => go(href.inflow()),
    x: () => rows[cursor] && toggle(rows[cursor].summary._id),
    e: () => act('archive'), '#': () => act('delete'), s: () => act('flag'), U: () => act('unread'),
  });

  if (error) return <p role="alert" class="error">{error}</p>;
  return (
    <section aria-labelledby="list-title">
      <div class="toolbar">
        <a href={href.inflow()} class="back" aria-label="Back to the inflow">←</a>
        <h1 id="list-title">{name}</h1>
      </div>
      <div class="toolbar actions" role="toolbar" aria-label="Act on the selected conversations">
        <span class="selected-count">{selected.size > 0 ? `${selected.size} selected` : ''}</span>
        <button type="button" onClick={() => act('read')}>Mark read</button>
        <button type="button" onClick={() => act('unread')}>Mark unread</button>
        <button type="button" onClick={() => act('flag')}>Flag</button>
        <button type="button" onClick={() => act('archive')}>Archive</button>
        <button type="button" onClick={() => act('delete')}>Delete</button>
      </div>
      {!page ? <p class="loading" aria-busy="true">Loading…</p> : rows.length === 0 ? <p class="empty">Nothing in the inbox here.</p> : (
        <ul class="conversations">
          {rows.map((r, i) => {
            const s = r.summary;
            const flagged = (s.flagged_ids?.length ?? 0) > 0;
            return (
              <li key={s._id} data-conv={convIdOf(s)} class={`${s.unread_count > 0 ? 'unread' : ''} ${i === cursor ? 'cursor' : ''} ${selected.has(s._id) ? 'selected' : ''}`}>
                <input type="checkbox" aria-label={`Select "${s.subject ?? '(no subject)'}"`} checked={selected.has(s._id)} onChange={() => toggle(s._id)} />
                <a href={href.conversation(convIdOf(s), grouping)} onClick={() => setCursor(i)}>
                  <span class="who">{participants(s.participants)}{s.message_count > 1 && <span class="count"> ({s.message_count})</span>}</span>
                  <span class="subject">{s.subject || '(no subject)'}</span>
                  <span class="preview">{r.preview}</span>
                  <span class="marks">
                    {flagged && <span class="flag" title="Flagged" aria-label="flagged">★</span>}
                    {r.attachments > 0 && <span class="clip" title={`${r.attachments} attachment(s)`} aria-label="has attachments">⊕{r.attachments}</span>}
                    {s.unread_count > 0 && <span class="sr-only">unread</span>}
                  </span>
                  <time class="date" dateTime={s.latest_timestamp ? new Date(s.latest_timestamp * 1000).toISOString() : undefined}>{shortDate(s.latest_timestamp)}</time>
                </a>
              </li>
            );
          })}
        </ul>
      )}
      <nav class="pager" aria-label="Pages">
        {starts.length > 1 && <button type="button" onClick={() => setStarts((s) => s.slice(0, -1))}>Newer</button>}
        {page?.next && <button type="button" onClick={() => setStarts((s) => [...s, page.next])}>Older</button>}
      </nav>
    </section>
  );
}
