/** Home: the groupings with unread and inbox counts, personal first, then newest
 * activity first. One `_all_docs` range; live on grouping summaries. */
import { useEffect, useState } from 'preact/hooks';
import { loadGroupings, type Grouping } from '../data/mail.js';
import { useApp, useLive } from '../ui/app-context.js';
import { shortDate } from '../ui/format.js';
import { go, href } from '../ui/router.js';
import { useKeys } from '../ui/keys.js';

export function Inflow() {
  const { db } = useApp();
  const [groupings, setGroupings] = useState<Grouping[] | undefined>();
  const [error, setError] = useState('');
  const [cursor, setCursor] = useState(0);
  const reload = () => loadGroupings(db).then(setGroupings, (e: Error) => setError(e.message));
  useEffect(() => void reload(), [db]);
  useLive(['rd.grouping.summary', 'rd.grouping.info'], reload);
  const list = groupings ?? [];
  const open = () => list[cursor] && go(href.list(list[cursor].id));
  useKeys({ j: () => setCursor((c) => Math.min(c + 1, list.length - 1)), k: () => setCursor((c) => Math.max(c - 1, 0)), o: open, Enter: open });
  if (error) return <p role="alert" class="error">{error}</p>;
  if (!groupings) return <p class="loading" aria-busy="true">Loading…</p>;
  return (
    <section aria-labelledby="inflow-title">
      <h1 id="inflow-title">Inflow</h1>
      {groupings.length === 0 && <p class="empty">No mail yet. Import some (<code>raindrop import PATH</code>) or add an account.</p>}
      <ul class="groupings">
        {groupings.map((g, i) => (
          <li key={g.id} class={`${g.unread > 0 ? 'unread' : ''} ${i === cursor ? 'cursor' : ''}`} data-grouping={g.id}>
            <a href={href.list(g.id)}>
              <span class="name">{g.name}</span>
              <span class="counts"><span class="unread-count" aria-label={`${g.unread} unread`}>{g.unread}</span> / <span class="inbox-count" aria-label={`${g.inbox} in the inbox`}>{g.inbox}</span></span>
              <time class="date">{shortDate(g.latest)}</time>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
