/** Compose, reply, reply all, forward: recipients completed from the ranked contacts,
 * the draft saved as you type (rd.msg.outgoing, state 'draft'), Send sets state 'send'
 * for the sender to act on. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { loadContacts, loadMessage } from '../data/mail.js';
import { draftFor, formatAddresses, loadAccounts, loadDraft, parseAddresses, saveOutgoing, type Account, type Draft } from '../data/outgoing.js';
import { useApp } from '../ui/app-context.js';
import { go, href, type Route } from '../ui/router.js';

const saveDelayMs = 800;

export function Compose({ route }: { route: Extract<Route, { screen: 'compose' }> }) {
  const app = useApp();
  const [accounts, setAccounts] = useState<Account[]>([]);
  const [draft, setDraft] = useState<Draft | undefined>();
  const [text, setText] = useState({ to: '', cc: '', bcc: '' });
  const [completions, setCompletions] = useState<string[]>([]);
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const body = useRef<HTMLTextAreaElement>(null);
  const toField = useRef<HTMLInputElement>(null);

  useEffect(() => {
    void (async () => {
      try {
        const [accs, contacts] = await Promise.all([loadAccounts(app.db), loadContacts(app.db, 500)]);
        setAccounts(accs);
        setCompletions(contacts.flatMap((c) => c.identities.map((i) => (c.name && c.name !== i ? `${c.name} <${i}>` : i))));
        const account = accs[0] ?? { name: 'default', identities: [] };
        const d = route.draft
          ? await loadDraft(app.db, route.draft)
          : draftFor(route.mode, account, route.id ? await loadMessage(app.db, route.id) : undefined);
        if (!d) return setError('That draft is gone (sent or deleted).');
        const to = new URLSearchParams(location.hash.split('?')[1] ?? '').get('to');
        setDraft(to && d.to.length === 0 ? { ...d, to: [{ address: to }] } : d);
        setText({ to: to && d.to.length === 0 ? to : formatAddresses(d.to), cc: formatAddresses(d.cc), bcc: formatAddresses(d.bcc) });
      } catch (e) {
        setError((e as Error).message);
      }
    })();
  }, [route.mode, route.id, route.draft]);

  const save = (d: Draft) => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      setStatus('Saving…');
      saveOutgoing(app.db, d, 'draft').then(() => setStatus('Draft saved'), (e: Error) => setStatus(`Draft not saved: ${e.message}`));
    }, saveDelayMs);
  };
  useEffect(() => () => clearTimeout(timer.current), []);
  // Back after the session ended: what was typed meanwhile is saved now.
  useEffect(() => {
    if (app.resumed > 0 && draft) save(draft);
  }, [app.resumed]);
  // Replies start above the quote; a new message starts at the recipients.
  const ready = draft !== undefined;
  useEffect(() => {
    if (!ready) return;
    if (route.mode === 'new' && !route.draft) toField.current?.focus();
    else {
      body.current?.focus();
      body.current?.setSelectionRange(0, 0);
    }
  }, [ready]);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (!draft) return <p class="loading" aria-busy="true">Loading…</p>;

  const update = (patch: Partial<Draft>) => {
    const next = { ...draft, ...patch };
    setDraft(next);
    save(next);
  };
  const addressField = (field: 'to' | 'cc' | 'bcc', value: string) => {
    setText({ ...text, [field]: value });
    update({ [field]: parseAddresses(value).list });
  };
  const send = async () => {
    const bad = (['to', 'cc', 'bcc'] as const).flatMap((f) => parseAddresses(text[f]).bad);
    if (bad.length > 0) return setStatus(`Not an address: ${bad.join(', ')}`);
    if (draft.to.length + draft.cc.length + draft.bcc.length === 0) return setStatus('Add a recipient first.');
    clearTimeout(timer.current);
    try {
      await saveOutgoing(app.db, draft, 'send');
      app.toast({ text: `Sending "${draft.subject || '(no subject)'}"` });
      go(href.inflow());
    } catch (e) {
      setStatus(`Not sent: ${(e as Error).message}`);
    }
  };
  const account = accounts.find((a) => a.name === draft.account);
  return (
    <section aria-labelledby="compose-title" class="compose">
      <h1 id="compose-title">{route.mode === 'reply' ? 'Reply' : route.mode === 'all' ? 'Reply all' : route.mode === 'forward' ? 'Forward' : 'New message'}</h1>
      <form onSubmit={(e) => { e.preventDefault(); void send(); }} data-draft={draft.id}>
        <label>From
          <select value={`${draft.account}\n${draft.from.address ?? ''}`} onChange={(e) => {
            const [acc = '', addr = ''] = e.currentTarget.value.split('\n');
            update({ account: acc, from: { address: addr } });
          }}>
            {(accounts.length ? accounts : [{ name: draft.account, identities: [draft.from.address ?? ''] }]).flatMap((a) => a.identities.map((i) => <option key={`${a.name}/${i}`} value={`${a.name}\n${i}`}>{i} ({a.name})</option>))}
          </select>
        </label>
        {!account && <p class="hint">No mail account is set up; the draft is kept, sending needs one (<code>raindrop account add</code>).</p>}
        <label>To<input ref={toField} name="to" list="rd-contacts" autocomplete="off" value={text.to} onInput={(e) => addressField('to', e.currentTarget.value)} /></label>
        <label>Cc<input name="cc" list="rd-contacts" autocomplete="off" value={text.cc} onInput={(e) => addressField('cc', e.currentTarget.value)} /></label>
        <label>Bcc<input name="bcc" list="rd-contacts" autocomplete="off" value={text.bcc} onInput={(e) => addressField('bcc', e.currentTarget.value)} /></label>
        <datalist id="rd-contacts">{completions.map((c) => <option key={c} value={c} />)}</datalist>
        <label>Subject<input name="subject" value={draft.subject} onInput={(e) => update({ subject: e.currentTarget.value })} /></label>
        <label>Message<textarea ref={body} name="text" rows={16} value={draft.text} onInput={(e) => update({ text: e.currentTarget.value })} /></label>
        <div class="toolbar">
          <button type="submit" class="primary">Send</button>
          <button type="button" onClick={() => history.back()}>Close</button>
          <span class="save-status" role="status">{status}</span>
        </div>
      </form>
    </section>
  );
}
