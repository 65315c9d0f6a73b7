/** One conversation, oldest message first: own text with quotes folded, HTML in a
 * sandboxed frame, attachments, links, the list's unsubscribe link; marks its unread messages
 * read when opened; reply, forward and triage from here. The summary and the messages'
 * documents by computed id; one view query (the links), which the messages do not wait
 * for (nor for attachments and the list: `extras`). */
import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { actions, liveMessageIds, openConversation, type Conversation as Conv, type Message, type MessageExtras } from '../data/mail.js';
import { useApp, useLive } from '../ui/app-context.js';
import { fullAddress, longDate, size, who } from '../ui/format.js';
import { go, href } from '../ui/router.js';
import { useKeys } from '../ui/keys.js';
import { runAction, type Act } from '../ui/actions.js';
import { HtmlBody, TextBody, hasRemoteImages } from '../ui/message-body.js';

const trustKey = (address: string) => `raindrop.images.${address.toLowerCase()}`;

function MessageView({ m, extras, served, db }: { m: Message; extras: MessageExtras | undefined; served: boolean; db: string }) {
  const attachments = extras?.attachments ?? [];
  const links = extras?.links ?? [];
  const list = extras?.list;
  const sender = m.from?.address ?? '';
  const [images, setImages] = useState(() => sender !== '' && localStorage.getItem(trustKey(sender)) === 'always');
  // HTML mail is shown as its sender made it (sanitized, remote images blocked): its text
  // part is often only a stub ("your mail program does not support HTML").
  const [asHtml, setAsHtml] = useState(m.html !== undefined);
  const blocked = m.html !== undefined && asHtml && !images && hasRemoteImages(m.html);
  return (
    <article class={`message ${m.seen ? '' : 'unread'}`} data-message={m.id} aria-label={`Message from ${who(m.from)}`}>
      <header>
        <span class="from" title={m.from ? fullAddress(m.from) : ''}>{who(m.from)}</span>
        {m.flagged && <span class="flag" aria-label="flagged">★</span>}
        <time dateTime={m.timestamp ? new Date(m.timestamp * 1000).toISOString() : undefined}>{longDate(m.timestamp)}</time>
        <div class="recipients">to {m.to.map(fullAddress).join(', ') || '—'}{m.cc.length > 0 && <> · cc {m.cc.map(fullAddress).join(', ')}</>}</div>
      </header>
      {m.html !== undefined && (
        <div class="view-switch">
          <button type="button" aria-pressed={asHtml} onClick={() => setAsHtml(!asHtml)}>{asHtml ? 'Show plain text' : 'Show HTML'}</button>
        </div>
      )}
      {blocked && (
        <div class="images-blocked" role="note">
          Remote images are blocked.
          <button type="button" class="show-images" onClick={() => setImages(true)}>Show images</button>
          {sender && <button type="button" onClick={() => { localStorage.setItem(trustKey(sender), 'always'); setImages(true); }}>Always for {sender}</button>}
        </div>
      )}
      {asHtml && m.html !== undefined ? <HtmlBody html={m.html} showImages={images} /> : <TextBody parts={m.parts} text={m.text} />}
      {attachments.length > 0 && (
        <ul class="attachments" aria-label="Attachments">
          {attachments.map((a) => (
            <li key={a.id}>
              {served
                ? <a href={`/_raindrop/attachment/${encodeURIComponent(db)}/${encodeURIComponent(a.id)}`} download={a.name}>{a.name}</a>
                : <span title="Downloads go through raindrop serve">{a.name}</span>}
              <span class="type">{a.content_type}</span> <span class="size">{size(a.size)}</span>
            </li>
          ))}
        </ul>
      )}
      {links.length > 0 && (
        <ul class="links" aria-label="Links">
          {links.map((l) => (
            <li key={l.url}><a href={l.url} target="_blank" rel="noopener noreferrer">{l.text}</a><span class="host">{l.host}</span></li>
          ))}
        </ul>
      )}
      {list && list.unsubscribe.length > 0 && (
        <p class="list-info">Mailing list {list.name ?? list.id}: {list.unsubscribe.map((u) => (
          <a key={u} class="unsubscribe" href={u} target="_blank" rel="noopener noreferrer">unsubscribe{u.startsWith('mailto:') ? ' (mail)' : ''}</a>
        ))}</p>
      )}
    </article>
  );
}

export function ConversationScreen({ id, from }: { id: string; from?: string }) {
  const app = useApp();
  const [conv, setConv] = useState<Conv | null | undefined>();
  const [extras, setExtras] = useState<Map<string, MessageExtras> | undefined>();
  const [error, setError] = useState('');
  const reload = () => openConversation(app.db, id).then((c) => {
    setConv(c ?? null);
    // Attachments and links follow the messages; a view still being built (links) only
    // leaves them out.
    c?.extras.then((x) => setExtras(x), () => setExtras(new Map()));
  }, (e: Error) => setError(e.message));
  // A layout effect, not an effect: the load (or the prefetch's answer) is taken up as the
  // screen is committed instead of a frame later.
  useLayoutEffect(() => {
    setConv(undefined);
    setExtras(undefined);
    void reload();
  }, [id]);
  // Opening a conversation reads it.
  useEffect(() => {
    if (conv && conv.summary.unread_ids.length > 0) void actions.seen(app.db, conv.summary.unread_ids, true).catch(() => undefined);
  }, [conv?.summary._id]);
  useLive(['rd.conv.summary', 'rd.msg.body', 'rd.msg.seen', 'rd.msg.flagged'], reload);
  const back = () => go(from ? href.list(from) : href.inflow());
  const act = (what: Act) => {
    if (!conv) return;
    const ids = what === 'unread' ? [conv.summary.latest_id] : liveMessageIds(conv.summary);
    void runAction(app, what, ids, 1, reload, () => go(href.conversation(id, from)));
    if (what === 'archive' || what === 'delete' || what === 'unread') back();
  };
  const flagged = (conv?.summary.flagged_ids?.length ?? 0) > 0;
  const latest = conv?.messages[conv.messages.length - 1];
  const reply = (mode: 'reply' | 'all' | 'forward') => latest && go(href.compose(mode, latest.id));
  useKeys({ u: back, e: () => act('archive'), '#': () => act('delete'), s: () => act(flagged ? 'unflag' : 'flag'), U: () => act('unread'), r: () => reply('reply'), a: () => reply('all'), f: () => reply('forward') });

  if (error) return <p role="alert" class="error">{error}</p>;
  if (conv === undefined) return <p class="loading" aria-busy="true">Loading…</p>;
  if (conv === null) return <p class="empty">This conversation is not (or no longer) here. <a href={href.inflow()}>Back to the inflow</a></p>;
  const sender = latest?.from?.address;
  return (
    <section aria-labelledby="conv-title" class="conversation" data-conv={conv.summary.rd_key[1]}>
      <div class="toolbar">
        <button type="button" class="back" onClick={back} aria-label="Back to the list">←</button>
        <h1 id="conv-title">{conv.summary.subject || '(no subject)'}</h1>
      </div>
      <div class="toolbar actions" role="toolbar" aria-label="Conversation actions">
        <button type="button" onClick={() => reply('reply')}>Reply</button>
        <button type="button" onClick={() => reply('all')}>Reply all</button>
        <button type="button" onClick={() => reply('forward')}>Forward</button>
        <button type="button" onClick={() => act('archive')}>Archive</button>
        <button type="button" onClick={() => act('delete')}>Delete</button>
        <button type="button" aria-pressed={flagged} onClick={() => act(flagged ? 'unflag' : 'flag')}>{flagged ? 'Unflag' : 'Flag'}</button>
        <button type="button" onClick={() => act('unread')}>Mark unread</button>
        {sender && <>
          <button type="button" onClick={() => void actions.bulkSender(app.db, sender, true).then(() => app.toast({ text: `${sender} is bulk now: their mail moves to Bulk` }))}>Sender is bulk</button>
          <button type="button" onClick={() => void actions.bulkSender(app.db, sender, false).then(() => app.toast({ text: `${sender} is not bulk` }))}>Not bulk</button>
        </>}
      </div>
      {conv.messages.map((m) => <MessageView key={m.id} m={m} extras={extras?.get(m.id)} served={app.db.where.served} db={app.db.where.db} />)}
    </section>
  );
}
