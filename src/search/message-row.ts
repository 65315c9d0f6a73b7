/**
 * What the index holds of one message, read from the message's documents (rd.msg.email,
 * rd.msg.body.quoted or rd.msg.body, attachment summary, mailing list, grouping tag,
 * conversation and the four user-state schemas). Pure: documents in, row out.
 */
import type { CouchDoc } from '../couch/documents.js';
import { searchLimits } from './limits.js';
import { segmentCjk } from './text.js';

/** The schemas of an ["email", Message-ID] item that change what the index holds. */
export const indexedSchemas = [
  'rd.msg.email', 'rd.msg.body', 'rd.msg.body.quoted', 'rd.msg.attachment-summary', 'rd.msg.email.mailing-list',
  'rd.msg.grouping-tag', 'rd.msg.conversation', 'rd.msg.seen', 'rd.msg.flagged', 'rd.msg.archived', 'rd.msg.deleted',
] as const;
export type IndexedSchema = (typeof indexedSchemas)[number];

export interface MessageRow {
  messageId: string;
  conversationId: string;
  timestamp: number | null;
  subject: string;
  fromName: string;
  fromAddress: string;
  grouping: string | null;
  listId: string | null;
  hasAttachment: boolean;
  seen: boolean;
  flagged: boolean;
  archived: boolean;
  deleted: boolean;
  /** FTS columns, CJK already segmented. */
  text: { subject: string; body: string; quoted: string; sender: string; to: string; cc: string; filename: string; list: string };
}

interface Address { name?: string; address?: string }

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const addresses = (v: unknown): Address[] => (Array.isArray(v) ? v.filter((a): a is Address => typeof a === 'object' && a !== null) : []);
const addressText = (list: Address[]) => list.map((a) => `${str(a.name)} ${str(a.address)}`.trim()).join('\n');
const clip = (s: string) => (s.length > searchLimits.maxTextChars ? s.slice(0, searchLimits.maxTextChars) : s);

/** Own words: the sender's text, the header lines of an embedded message and the
 * signature; everything else of the body (quotes, attributions, forwarded and original
 * messages, list footers) is quoted text, ranked lower. */
const ownParts = new Set(['text', 'header', 'signature']);

/** The row for one message, or undefined when it has no parsed email (gone, or not
 * processed yet): such a message is not in the index. */
export function messageRow(messageId: string, docs: ReadonlyMap<IndexedSchema, CouchDoc>): MessageRow | undefined {
  const email = docs.get('rd.msg.email');
  if (!email) return undefined;
  const quoted = docs.get('rd.msg.body.quoted');
  let body = '';
  let quotedText = '';
  if (quoted && Array.isArray(quoted.parts)) {
    const own: string[] = [];
    const other: string[] = [];
    for (const part of quoted.parts as Array<{ type?: string; text?: string }>) (ownParts.has(str(part.type)) ? own : other).push(str(part.text));
    body = own.join('\n');
    quotedText = other.join('\n');
  } else {
    body = str(docs.get('rd.msg.body')?.text);
  }
  const from = (email.from ?? null) as Address | null;
  const attachments = docs.get('rd.msg.attachment-summary');
  const list = docs.get('rd.msg.email.mailing-list');
  const conv = docs.get('rd.msg.conversation')?.conversation_id;
  const flag = (schema: IndexedSchema, field: string) => docs.get(schema)?.[field] === true;
  const names = Array.isArray(attachments?.names) ? (attachments.names as unknown[]).map(str) : [];
  const listId = list ? str(list.list_id) : '';
  const grouping = docs.get('rd.msg.grouping-tag')?.grouping_id;
  return {
    messageId,
    conversationId: Array.isArray(conv) && typeof conv[1] === 'string' ? conv[1] : messageId,
    timestamp: typeof email.timestamp === 'number' ? email.timestamp : null,
    subject: str(email.subject),
    fromName: str(from?.name),
    fromAddress: str(from?.address),
    grouping: typeof grouping === 'string' ? grouping : null,
    listId: listId === '' ? null : listId,
    hasAttachment: typeof attachments?.count === 'number' && attachments.count > 0,
    seen: flag('rd.msg.seen', 'seen'),
    flagged: flag('rd.msg.flagged', 'flagged'),
    archived: flag('rd.msg.archived', 'archived'),
    deleted: flag('rd.msg.deleted', 'deleted'),
    text: {
      subject: segmentCjk(str(email.subject)),
      body: segmentCjk(clip(body)),
      quoted: segmentCjk(clip(quotedText)),
      sender: segmentCjk(from ? addressText([from]) : ''),
      to: segmentCjk(addressText(addresses(email.to))),
      cc: segmentCjk(addressText(addresses(email.cc))),
      filename: segmentCjk(names.join('\n')),
      list: list ? segmentCjk(`${listId} ${str(list.name)}`.trim()) : '',
    },
  };
}
