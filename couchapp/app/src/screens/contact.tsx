/** One contact: name, identities (each starts a message) and the conversations they take
 * part in, newest first. The contact by id, then one view query. */
import { loadContact } from '../data/people.js';
import { useApp } from '../ui/app-context.js';
import { shortDate } from '../ui/format.js';
import { href } from '../ui/router.js';
import { useLoad } from './directory.js';

export function ContactScreen({ id }: { id: string }) {
  const { db } = useApp();
  const { data, error } = useLoad(() => loadContact(db, id), ['rd.contact', 'rd.conv.summary']);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (data === undefined) return <p class="loading" aria-busy="true">Loading…</p>;
  if (data === null) return <p class="empty">This contact is not (or no longer) here. <a href="#/contacts">All contacts</a></p>;
  const { contact, conversations, more } = data;
  return (
    <section aria-labelledby="contact-title" class="contact" data-contact={contact.id}>
      <div class="toolbar">
        <a class="back" href="#/contacts" aria-label="Back to the contacts">←</a>
        <h1 id="contact-title">{contact.name}</h1>
      </div>
      <p class="counts">{contact.messages} messages{contact.sentByMe > 0 ? `, ${contact.sentByMe} from you` : ''}{contact.lastSeen ? `, last ${shortDate(contact.lastSeen)}` : ''}</p>
      <h2>Addresses</h2>
      <ul class="identities">{contact.identities.map((i) => <li key={i}><a href={`#/compose?to=${encodeURIComponent(i)}`}>{i}</a></li>)}</ul>
      <h2>Conversations</h2>
      {conversations.length === 0 && <p class="empty">No conversation with a message from them.</p>}
      <ul class="contact-conversations">
        {conversations.map((c) => (
          <li key={c.conv} class={c.unread > 0 ? 'unread' : ''} data-conv={c.conv}>
            <a href={href.conversation(c.conv)}>
              <span class="subject">{c.subject || '(no subject)'}</span>
              <span class="count">{c.messages > 1 ? ` (${c.messages})` : ''}</span>
              <time class="date">{shortDate(c.latest)}</time>
            </a>
          </li>
        ))}
      </ul>
      {more && <p class="hint">Only the newest {conversations.length} are listed.</p>}
    </section>
  );
}
