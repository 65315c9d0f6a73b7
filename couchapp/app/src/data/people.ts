/**
 * One contact: its document by id (the id is in the route) and the conversations its
 * addresses take part in, from one query of `rd_browse/conversations_by_identity` with
 * the addresses as keys. Newest first.
 */
import type { Database } from './couch.js';

export interface ContactDetail { id: string; name: string; identities: string[]; messages: number; sentByMe: number; lastSeen: number | null }
export interface ContactConversation { conv: string; subject: string | null; latest: number | null; messages: number; unread: number }

/** Conversations listed for one contact (a list's most active poster has thousands). */
export const contactConversationsShown = 200;

const addressOf = (i: unknown): string => (Array.isArray(i) ? String(i[1]) : String(i));

export async function loadContact(db: Database, contactDocId: string): Promise<{ contact: ContactDetail; conversations: ContactConversation[]; more: boolean } | null> {
  const doc = (await db.docs([contactDocId])).get(contactDocId);
  if (!doc || doc.rd_schema_id !== 'rd.contact') return null;
  const identities = Array.isArray(doc.identities) ? (doc.identities as unknown[]).map(addressOf) : [];
  const contact: ContactDetail = {
    id: doc._id, name: String(doc.name ?? identities[0] ?? ''), identities,
    messages: typeof doc.message_count === 'number' ? doc.message_count : 0,
    sentByMe: typeof doc.sent_by_me_count === 'number' ? doc.sent_by_me_count : 0,
    lastSeen: typeof doc.last_seen === 'number' ? doc.last_seen : null,
  };
  const r = await db.viewKeys<ContactConversation>('rd_browse', 'conversations_by_identity', identities.map((i) => i.toLowerCase()));
  // One conversation can name two of the contact's addresses.
  const byConv = new Map<string, ContactConversation>();
  for (const row of r.rows) if (row.value && !byConv.has(row.value.conv)) byConv.set(row.value.conv, row.value);
  const all = [...byConv.values()].sort((a, b) => (b.latest ?? 0) - (a.latest ?? 0));
  return { contact, conversations: all.slice(0, contactConversationsShown), more: all.length > contactConversationsShown };
}
