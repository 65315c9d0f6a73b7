/** Contacts (ranked), mailing lists (with message counts) and status (sync per account,
 * extension errors): one query each. */
import { useEffect, useState } from 'preact/hooks';
import { loadContacts, loadLists, loadStatus, type Contact, type MailingList } from '../data/mail.js';
import { useApp, useLive } from '../ui/app-context.js';
import { shortDate } from '../ui/format.js';

function useLoad<T>(load: () => Promise<T>, live: string[]): { data: T | undefined; error: string } {
  const [data, setData] = useState<T | undefined>();
  const [error, setError] = useState('');
  const reload = () => load().then(setData, (e: Error) => setError(e.message));
  useEffect(() => void reload(), []);
  useLive(live, reload);
  return { data, error };
}

export function Contacts() {
  const { db } = useApp();
  const { data, error } = useLoad<Contact[]>(() => loadContacts(db), ['rd.contact']);
  return (
    <section aria-labelledby="contacts-title">
      <h1 id="contacts-title">Contacts</h1>
      {error && <p role="alert" class="error">{error}</p>}
      <ul class="contacts">
        {(data ?? []).map((c) => (
          <li key={c.id}>
            <span class="name">{c.name}</span>
            <span class="identities">{c.identities.map((i) => <a key={i} href={`#/compose?to=${encodeURIComponent(i)}`}>{i}</a>)}</span>
            <span class="counts">{c.messages} messages{c.sentByMe > 0 ? `, ${c.sentByMe} from you` : ''}</span>
            <time>{shortDate(c.lastSeen)}</time>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Lists() {
  const { db } = useApp();
  const { data, error } = useLoad<MailingList[]>(() => loadLists(db), ['rd.mailing-list']);
  return (
    <section aria-labelledby="lists-title">
      <h1 id="lists-title">Mailing lists</h1>
      {error && <p role="alert" class="error">{error}</p>}
      <ul class="lists">
        {(data ?? []).map((l) => (
          <li key={l.id}>
            <a href={`#/g/${encodeURIComponent(`list:${l.id}`)}`}>{l.name ?? l.id}</a>
            <span class="counts">{l.messages} messages</span>
            {l.unsubscribe.map((u) => <a key={u} class="unsubscribe" href={u} target="_blank" rel="noopener noreferrer">unsubscribe</a>)}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Status() {
  const { db } = useApp();
  const { data, error } = useLoad(() => loadStatus(db), ['rd.core.sync-status', 'rd.core.error']);
  return (
    <section aria-labelledby="status-title">
      <h1 id="status-title">Status</h1>
      {error && <p role="alert" class="error">{error}</p>}
      <h2>Accounts</h2>
      {data && data.accounts.length === 0 && <p class="empty">No mail account has synced yet (<code>raindrop account add</code>).</p>}
      <ul>{(data?.accounts ?? []).map((a) => <li key={a.account}><strong>{a.account}</strong>: {a.result}{a.finishedAt ? `, ${new Date(a.finishedAt).toLocaleString()}` : ''}{a.error ? ` — ${a.error}` : ''}</li>)}</ul>
      <h2>Extension errors</h2>
      {data && data.errors.length === 0 && <p class="empty">None.</p>}
      <ul>{(data?.errors ?? []).map((e) => <li key={e.ext}>{e.ext}: {e.count}</li>)}</ul>
      {data && data.errors.length > 0 && <p class="hint">The admin runs them again with <code>raindrop retry-errors</code>.</p>}
    </section>
  );
}
