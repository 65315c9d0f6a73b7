/**
 * What each screen shows, as documents: at most two view queries per screen, the rest by
 * computed id (`_all_docs` with keys). Types name only the fields the screens use; the
 * schemas in ../../../schemas/ are the full contract.
 */
import type { CouchDoc, Database } from './couch.js';
import { convKey, docIdFor, messageKey, type JsonValue, type RdKey } from './ids.js';

export interface Address { name?: string; address?: string }

export interface Grouping {
  id: string;
  name: string;
  kind: string;
  order: number;
  unread: number;
  inbox: number;
  total: number;
  flagged: number;
  latest: number | null;
}

export interface ConvSummary {
  _id: string;
  /** ["conv", the smallest Message-ID]: the conversation's key (not first_id, the first by date). */
  rd_key: [string, string];
  subject: string | null;
  participants: Address[];
  message_ids: string[];
  unread_ids: string[];
  flagged_ids?: string[];
  deleted_ids?: string[];
  archived?: boolean;
  first_id: string;
  latest_id: string;
  message_count: number;
  unread_count: number;
  latest_timestamp: number | null;
  groupings?: Record<string, number | null>;
}

export interface ConvRow {
  summary: ConvSummary;
  /** View key, for paging. */
  key: JsonValue;
  preview: string;
  attachments: number;
}

export interface Page {
  rows: ConvRow[];
  /** Where the next page starts (startkey + docid), or undefined on the last page. */
  next: { key: JsonValue; id: string } | undefined;
}

export interface QuotedPart { type: string; text: string; depth?: number; headers?: Record<string, string> }

export interface AttachmentFile { id: string; name: string; content_type: string; size: number; inline: boolean }

export interface Message {
  id: string;
  from: Address | null;
  to: Address[];
  cc: Address[];
  subject: string | null;
  timestamp: number | null;
  text: string;
  textSource: string;
  html: string | undefined;
  parts: QuotedPart[] | undefined;
  seen: boolean;
  flagged: boolean;
  replyTo: Address[];
}

export interface Conversation {
  summary: ConvSummary;
  messages: Message[];
  /** Attachments and links per message, loaded after the messages. */
  extras: Promise<Map<string, MessageExtras>>;
}

export const pageSize = 50;

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** The inflow: every grouping with its counts; one `_all_docs` range (info + summary). */
/** A grouping's display name (its rd.grouping.info, read by id), or its id when it has
 * none (a list the grouping extension has not named). */
export async function loadGroupingName(db: Database, grouping: string): Promise<string> {
  const id = docIdFor(['grouping', grouping] as RdKey, 'rd.grouping.info');
  const name = (await db.docs([id])).get(id)?.name;
  return typeof name === 'string' && name !== '' ? name : grouping.replace(/^list:/, '');
}

export async function loadGroupings(db: Database): Promise<Grouping[]> {
  const docs = await db.byKeyType('grouping');
  const byId = new Map<string, { info?: CouchDoc; summary?: CouchDoc }>();
  for (const d of docs) {
    const gid = String(d.grouping_id ?? '');
    const entry = byId.get(gid) ?? {};
    if (d.rd_schema_id === 'rd.grouping.info') entry.info = d;
    if (d.rd_schema_id === 'rd.grouping.summary') entry.summary = d;
    byId.set(gid, entry);
  }
  const out: Grouping[] = [];
  for (const [id, { info, summary }] of byId) {
    if (!summary || num(summary.message_count) === 0) continue;
    out.push({
      id,
      name: typeof info?.name === 'string' ? info.name : id,
      kind: typeof info?.kind === 'string' ? info.kind : 'list',
      order: num(info?.order),
      unread: num(summary.unread_count),
      inbox: num(summary.inbox_count),
      total: num(summary.message_count),
      flagged: num(summary.flagged_count),
      latest: typeof summary.latest_timestamp === 'number' ? summary.latest_timestamp : null,
    });
  }
  // Personal mail on top, then newest activity first.
  return out.sort((a, b) => (a.kind === 'personal') !== (b.kind === 'personal') ? (a.kind === 'personal' ? -1 : 1) : (b.latest ?? 0) - (a.latest ?? 0));
}

/** One page of a grouping's inbox, newest first: one view query plus the previews and
 * attachment summaries by id. */
export async function loadPage(db: Database, grouping: string, from?: { key: JsonValue; id: string }): Promise<Page> {
  const r = await db.view<{ unread: number }>('rd_mail', 'inbox_by_grouping', {
    descending: true,
    startkey: from ? from.key : [grouping, {}],
    ...(from ? { startkey_docid: from.id } : {}),
    endkey: [grouping],
    include_docs: true,
    limit: pageSize + 1,
  });
  const rows = r.rows.slice(0, pageSize);
  const extra = r.rows[pageSize];
  const summaries = rows.flatMap((row) => (row.doc ? [row.doc as unknown as ConvSummary] : []));
  const ids = summaries.flatMap((s) => [docIdFor(messageKey(s.latest_id), 'rd.msg.body'), ...s.message_ids.map((m) => docIdFor(messageKey(m), 'rd.msg.attachment-summary'))]);
  const extras = await db.docs(ids);
  return {
    rows: rows.flatMap((row) => {
      const s = row.doc as unknown as ConvSummary | undefined;
      if (!s) return [];
      const body = extras.get(docIdFor(messageKey(s.latest_id), 'rd.msg.body'));
      const attachments = s.message_ids.reduce((n, m) => n + num(extras.get(docIdFor(messageKey(m), 'rd.msg.attachment-summary'))?.count), 0);
      return [{ summary: s, key: row.key, preview: typeof body?.preview === 'string' ? body.preview : '', attachments }];
    }),
    next: extra ? { key: extra.key, id: extra.id } : undefined,
  };
}

/** What a message needs to paint: its text (and HTML), its folded parts, read and
 * flagged. Everything else (attachments, links, list) fills in after. */
const paintSchemas = ['rd.msg.body', 'rd.msg.body.quoted', 'rd.msg.seen', 'rd.msg.flagged'] as const;

const addresses = (v: unknown): Address[] => (Array.isArray(v) ? (v as Address[]) : []);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

export interface Link { url: string; text: string; host: string }

/** What a message shows once its messages are on screen: attachments (their items need
 * the attachment summaries first), links (a view query) and its mailing list. */
export interface MessageExtras { attachments: AttachmentFile[]; links: Link[]; list: ListInfo | undefined }

export interface ListInfo { id: string; name: string | null; unsubscribe: string[]; post: string | null }

/**
 * A conversation by its key value (the smallest Message-ID). Two requests in a row paint
 * it: the summary (with, in the same request, the paint documents of the message whose
 * id is the key: all there is to paint a conversation of one message), then the other
 * messages' paint documents (body, quoted parts, seen, flagged). Attachments, links and
 * the list (`extras`: the view `rd_browse/links_by_message` and the documents after,
 * asked once the paint documents are in) never hold the messages back. One view query.
 */
export async function loadConversation(db: Database, convId: string): Promise<Conversation | undefined> {
  const paintIds = (m: string) => paintSchemas.map((s) => docIdFor(messageKey(m), s));
  const summaryId = docIdFor(convKey(convId), 'rd.conv.summary');
  const first = await db.docs([summaryId, ...paintIds(convId)]);
  const summary = first.get(summaryId) as unknown as ConvSummary | undefined;
  if (!summary) return undefined;
  const rest = await db.docs(summary.message_ids.filter((m) => m !== convId).flatMap(paintIds));
  // Asked only now: beside the paint request, the view query competed with it for the
  // server (it took longer than the documents) and held the messages back.
  const linkRows = db.viewKeys<Link & { position: number }>('rd_browse', 'links_by_message', summary.message_ids);
  // Handled here so a failure before `extras` is awaited is not an unhandled rejection.
  linkRows.catch(() => undefined);
  const get = (m: string, s: string) => (m === convId ? first : rest).get(docIdFor(messageKey(m), s));
  const extras = loadExtras(db, summary.message_ids, linkRows);
  extras.catch(() => undefined);
  const messages = summary.message_ids.flatMap((m): Message[] => {
    const body = get(m, 'rd.msg.body');
    if (!body) return [];
    const quoted = get(m, 'rd.msg.body.quoted');
    return [{
      id: m,
      from: (body.from as Address | null) ?? null,
      to: addresses(body.to),
      cc: addresses(body.cc),
      subject: typeof body.subject === 'string' ? body.subject : null,
      timestamp: typeof body.timestamp === 'number' ? body.timestamp : null,
      text: typeof body.text === 'string' ? body.text : '',
      textSource: typeof body.text_source === 'string' ? body.text_source : 'plain',
      html: typeof body.html === 'string' ? body.html : undefined,
      parts: Array.isArray(quoted?.parts) ? (quoted.parts as QuotedPart[]) : undefined,
      seen: get(m, 'rd.msg.seen')?.seen === true,
      flagged: get(m, 'rd.msg.flagged')?.flagged === true,
      replyTo: [],
    }];
  });
  return { summary, messages, extras };
}

/** Attachments, links and list of a conversation's messages: the attachment summaries and
 * list documents by id, then the attachment items (ids from the summaries), beside the
 * links query. */
async function loadExtras(db: Database, messageIds: readonly string[], linkRows: Promise<{ rows: Array<{ key: JsonValue; value: Link & { position: number } }> }>): Promise<Map<string, MessageExtras>> {
  const id = (m: string, s: string) => docIdFor(messageKey(m), s);
  const docs = await db.docs(messageIds.flatMap((m) => [id(m, 'rd.msg.attachment-summary'), id(m, 'rd.msg.email.mailing-list')]));
  const partIdsOf = (m: string) => strings(docs.get(id(m, 'rd.msg.attachment-summary'))?.part_ids);
  const fileId = (m: string, p: string) => docIdFor(['attach', [m, p]] as RdKey, 'rd.attach.file');
  const [files, links] = await Promise.all([db.docs(messageIds.flatMap((m) => partIdsOf(m).map((p) => fileId(m, p)))), linkRows]);
  const out = new Map<string, MessageExtras>(messageIds.map((m) => {
    const list = docs.get(id(m, 'rd.msg.email.mailing-list'));
    return [m, {
      attachments: partIdsOf(m).flatMap((p) => {
        const f = files.get(fileId(m, p));
        return f ? [{ id: f._id, name: String(f.name ?? `part-${p}`), content_type: String(f.content_type ?? 'application/octet-stream'), size: num(f.size), inline: f.inline === true }] : [];
      }),
      links: [],
      list: list ? { id: String(list.list_id), name: typeof list.name === 'string' ? list.name : null, unsubscribe: strings(list.unsubscribe), post: typeof list.post === 'string' ? list.post : null } : undefined,
    }];
  }));
  const sorted = [...links.rows].sort((a, b) => a.value.position - b.value.position);
  for (const row of sorted) out.get(String(row.key))?.links.push({ url: String(row.value.url), text: String(row.value.text), host: String(row.value.host) });
  return out;
}

const prefetched = new Map<string, Promise<Conversation | undefined>>();

/** Starts loading a conversation before the screen asks (the app opened on its URL: the
 * load runs beside the session check instead of after it). */
export function prefetchConversation(db: Database, convId: string): void {
  const p = loadConversation(db, convId);
  p.catch(() => undefined);
  prefetched.set(convId, p);
}

/** The conversation, from its prefetch when there is one (once), else loaded now. */
export function openConversation(db: Database, convId: string): Promise<Conversation | undefined> {
  const early = prefetched.get(convId);
  prefetched.delete(convId);
  // A prefetch refused (no session yet) is done again with the session.
  return early ? early.catch(() => loadConversation(db, convId)) : loadConversation(db, convId);
}

export interface Contact { id: string; name: string; identities: string[]; messages: number; sentByMe: number; lastSeen: number | null }

/** Contacts, best first: one view query with the documents. */
export async function loadContacts(db: Database, limit = 200): Promise<Contact[]> {
  const r = await db.view<string>('rd_mail', 'contacts_by_rank', { descending: true, include_docs: true, limit });
  return r.rows.flatMap((row) => {
    const d = row.doc;
    if (!d) return [];
    const ids = Array.isArray(d.identities) ? (d.identities as unknown[]).map((i) => (Array.isArray(i) ? String(i[1]) : typeof i === 'object' && i && 'address' in i ? String((i as { address: unknown }).address) : String(i))) : [];
    return [{ id: d._id, name: String(d.name ?? ids[0] ?? ''), identities: ids, messages: num(d.message_count), sentByMe: num(d.sent_by_me_count), lastSeen: typeof d.last_seen === 'number' ? d.last_seen : null }];
  });
}

export interface MailingList { id: string; name: string | null; messages: number; unsubscribe: string[]; last: number | null }

/** Mailing lists: one `_all_docs` range over the key type. */
export async function loadLists(db: Database): Promise<MailingList[]> {
  const docs = await db.byKeyType('mailing-list');
  return docs.filter((d) => d.rd_schema_id === 'rd.mailing-list').map((d) => ({
    id: String(d.list_id ?? d._id), name: typeof d.name === 'string' ? d.name : null, messages: num(d.message_count), unsubscribe: strings(d.unsubscribe),
    last: typeof d.last_seen === 'number' ? d.last_seen : null,
  })).sort((a, b) => b.messages - a.messages);
}

/** User actions on messages: each writes the user-state item `raindrop mark` writes. */
export const actions = {
  seen: (db: Database, ids: readonly string[], seen: boolean) => db.markItems(ids.map(messageKey), 'rd.msg.seen', { seen }),
  flag: (db: Database, ids: readonly string[], flagged: boolean) => db.markItems(ids.map(messageKey), 'rd.msg.flagged', { flagged }),
  archive: (db: Database, ids: readonly string[], archived: boolean) => db.markItems(ids.map(messageKey), 'rd.msg.archived', { archived }),
  delete: (db: Database, ids: readonly string[], deleted: boolean) => db.markItems(ids.map(messageKey), 'rd.msg.deleted', { deleted }),
  bulkSender: (db: Database, address: string, bulk: boolean) => db.markItems([['identity', ['email', address.toLowerCase()]]], 'rd.identity.sender-flags', { bulk }),
};

/** The key value a conversation is found by (its summary's id is computed from it). */
export const convIdOf = (s: ConvSummary): string => s.rd_key[1];

/** The live (not deleted) messages of a conversation: what an action on it applies to. */
export function liveMessageIds(s: ConvSummary): string[] {
  const deleted = new Set(s.deleted_ids ?? []);
  return s.message_ids.filter((m) => !deleted.has(m));
}

/** One message for a reply or forward: its body, quoted parts and Reply-To. */
export async function loadMessage(db: Database, id: string): Promise<Message | undefined> {
  const schemas = ['rd.msg.body', 'rd.msg.body.quoted', 'rd.msg.email'];
  const docs = await db.docs(schemas.map((s) => docIdFor(messageKey(id), s)));
  const body = docs.get(docIdFor(messageKey(id), 'rd.msg.body'));
  if (!body) return undefined;
  const quoted = docs.get(docIdFor(messageKey(id), 'rd.msg.body.quoted'));
  const email = docs.get(docIdFor(messageKey(id), 'rd.msg.email'));
  return {
    id, from: (body.from as Address | null) ?? null, to: addresses(body.to), cc: addresses(body.cc),
    subject: typeof body.subject === 'string' ? body.subject : null, timestamp: typeof body.timestamp === 'number' ? body.timestamp : null,
    text: typeof body.text === 'string' ? body.text : '', textSource: 'plain', html: undefined,
    parts: Array.isArray(quoted?.parts) ? (quoted.parts as QuotedPart[]) : undefined,
    seen: true, flagged: false,
    replyTo: addresses(email?.reply_to),
  };
}
