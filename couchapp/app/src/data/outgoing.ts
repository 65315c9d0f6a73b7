/**
 * Drafts and outgoing mail: `rd.msg.outgoing` items (the sending issue's schema), written
 * by the writer "user" under the key ["email", <Message-ID the app picks>]; "state"
 * 'draft' keeps it, 'send' asks the sender to send it. Replies quote the original.
 */
import type { Database } from './couch.js';
import { docIdFor, messageKey, type JsonValue } from './ids.js';
import type { Address, Message } from './mail.js';
import { applyUserItem } from './user-state.js';

export const outgoingSchema = 'rd.msg.outgoing';

export interface Account { name: string; identities: string[] }

export interface Draft {
  id: string;
  account: string;
  from: Address;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  subject: string;
  text: string;
  in_reply_to?: string;
  forward_of?: string;
}

export async function loadAccounts(db: Database): Promise<Account[]> {
  const docs = await db.byKeyType('account');
  return docs.filter((d) => d.rd_schema_id === 'rd.account').map((d) => ({
    name: String(d.name ?? (Array.isArray(d.rd_key) ? d.rd_key[1] : '')),
    identities: Array.isArray(d.identities) ? (d.identities as unknown[]).map((i) => (Array.isArray(i) ? String(i[1]) : String(i))) : [],
  }));
}

export function newMessageId(from: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const domain = from.split('@')[1] || 'raindrop.invalid';
  return `${random}@${domain}`;
}

/** "a@b, Ann <c@d>" → addresses; anything that is not name <address> or an address is
 * kept out and reported. */
export function parseAddresses(text: string): { list: Address[]; bad: string[] } {
  const list: Address[] = [];
  const bad: string[] = [];
  for (const raw of text.split(/[,;]/).map((s) => s.trim()).filter(Boolean)) {
    const m = /^(?:"?([^"<]*?)"?\s*)?<([^<>\s]+@[^<>\s]+)>$/.exec(raw) ?? (/^([^\s<>@]+@[^\s<>@]+)$/.exec(raw) ? [raw, '', raw] : null);
    if (!m?.[2]) bad.push(raw);
    else list.push(m[1] ? { name: m[1], address: m[2].toLowerCase() } : { address: m[2].toLowerCase() });
  }
  return { list, bad };
}

export const formatAddresses = (list: Address[]): string => list.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address ?? '')).join(', ');

function quote(m: Message): string {
  const when = m.timestamp ? new Date(m.timestamp * 1000).toUTCString() : 'an unknown date';
  // The sender's own words (their quotes and signature are not quoted again), blank
  // runs collapsed: text made from HTML is full of them.
  const own = (m.parts ? m.parts.filter((p) => p.type === 'text').map((p) => p.text).join('\n\n') : m.text).replace(/\n\s*\n(\s*\n)+/g, '\n\n').trim();
  return `\n\nOn ${when}, ${m.from?.name || m.from?.address || 'someone'} wrote:\n${own.split('\n').map((l) => `> ${l}`).join('\n')}\n`;
}

/** A new draft answering or forwarding `m`, from `account`. */
export function draftFor(mode: 'new' | 'reply' | 'all' | 'forward', account: Account, m: Message | undefined): Draft {
  const me = account.identities[0] ?? '';
  const mine = new Set(account.identities.map((i) => i.toLowerCase()));
  const base: Draft = { id: newMessageId(me), account: account.name, from: { address: me }, to: [], cc: [], bcc: [], subject: '', text: '' };
  if (!m || mode === 'new') return base;
  const subject = m.subject ?? '';
  if (mode === 'forward') {
    const head = `\n\n---------- Forwarded message ----------\nFrom: ${m.from ? formatAddresses([m.from]) : ''}\nDate: ${m.timestamp ? new Date(m.timestamp * 1000).toUTCString() : ''}\nSubject: ${subject}\nTo: ${formatAddresses(m.to)}\n\n`;
    return { ...base, subject: /^fwd?:/i.test(subject) ? subject : `Fwd: ${subject}`, text: head + m.text, forward_of: m.id };
  }
  const replyTo = m.replyTo.length > 0 ? m.replyTo : m.from ? [m.from] : [];
  const notMe = (a: Address) => !mine.has((a.address ?? '').toLowerCase());
  const to = mode === 'all' ? [...replyTo, ...m.to.filter(notMe)] : replyTo;
  const seen = new Set<string>();
  const uniq = (l: Address[]) => l.filter((a) => a.address && !seen.has(a.address) && seen.add(a.address));
  const toList = uniq(to);
  return {
    ...base,
    to: toList,
    cc: mode === 'all' ? uniq(m.cc.filter(notMe)) : [],
    subject: /^re:/i.test(subject) ? subject : `Re: ${subject}`,
    text: quote(m),
    in_reply_to: m.id,
  };
}

function fieldsOf(d: Draft, state: 'draft' | 'send'): Record<string, JsonValue> {
  const addr = (a: Address): JsonValue => (a.name ? { name: a.name, address: a.address ?? '' } : { address: a.address ?? '' });
  return {
    account: d.account,
    from: addr(d.from),
    to: d.to.map(addr),
    ...(d.cc.length > 0 ? { cc: d.cc.map(addr) } : {}),
    ...(d.bcc.length > 0 ? { bcc: d.bcc.map(addr) } : {}),
    subject: d.subject,
    text: d.text,
    ...(d.in_reply_to ? { in_reply_to: ['email', d.in_reply_to] } : {}),
    ...(d.forward_of ? { forward_of: ['email', d.forward_of] } : {}),
    state,
    ...(state === 'send' ? { requested_at: new Date().toISOString() } : {}),
  };
}

/** Saves the draft (state 'draft') or asks for it to be sent (state 'send'). */
export async function saveOutgoing(db: Database, d: Draft, state: 'draft' | 'send'): Promise<void> {
  await db.markItems([messageKey(d.id)], outgoingSchema, fieldsOf(d, state));
}

export async function loadDraft(db: Database, id: string): Promise<Draft | undefined> {
  const doc = await db.doc(messageKey(id), outgoingSchema);
  if (!doc) return undefined;
  const list = (v: unknown) => (Array.isArray(v) ? (v as Address[]) : []);
  const key = (v: unknown) => (Array.isArray(v) && typeof v[1] === 'string' ? v[1] : undefined);
  const ir = key(doc.in_reply_to);
  const fw = key(doc.forward_of);
  return {
    id, account: String(doc.account ?? ''), from: (doc.from as Address) ?? {}, to: list(doc.to), cc: list(doc.cc), bcc: list(doc.bcc),
    subject: String(doc.subject ?? ''), text: String(doc.text ?? ''), ...(ir ? { in_reply_to: ir } : {}), ...(fw ? { forward_of: fw } : {}),
  };
}

export const outgoingDocId = (id: string) => docIdFor(messageKey(id), outgoingSchema);
