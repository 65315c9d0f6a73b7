/** Contacts (ranked; each opens its identities and conversations) and mailing lists
 * (with message counts): one query each. */
import { useEffect, useState } from 'preact/hooks';
import { loadContacts, loadLists, type Contact, type MailingList } from '../data/mail.js';
import { useApp, useLive } from '../ui/app-context.js';
import { shortDate } from '../ui/format.js';
import { href } from '../ui/router.js';

export function useLoad<T>(load: () => Promise<T>, live: string[]): { data: T | undefined; error: string } {
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
            <a class="name" href={href.contact(c.id)}>{c.name}</a>
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
