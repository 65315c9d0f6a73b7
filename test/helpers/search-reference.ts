/**
 * An independent reading of raw messages for checking search results: each message is
 * decoded with mailparser here (not through the queue's documents or the index), and a
 * test states what a query means as a predicate over these decoded messages.
 */
import { readFile } from 'node:fs/promises';
import { simpleParser, type AddressObject } from 'mailparser';

export interface DecodedMessage {
  messageId: string;
  subject: string;
  from: string;
  to: string;
  cc: string;
  text: string;
  filenames: string[];
  listId: string;
  /** Lower-case names of every header. */
  headerNames: string[];
  /** Seconds since the epoch, or null. */
  date: number | null;
}

/** Words as a search engine of letters and digits sees them: lower case, no accents. */
export function words(text: string): string[] {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

export const hasWord = (text: string, word: string) => words(text).includes(word);
export const hasPrefix = (text: string, prefix: string) => words(text).some((w) => w.startsWith(prefix));
/** The words of phrase appear in text consecutively. */
export function hasPhrase(text: string, phrase: string): boolean {
  const w = words(text);
  const p = words(phrase);
  outer: for (let i = 0; i + p.length <= w.length; i++) {
    for (let j = 0; j < p.length; j++) if (w[i + j] !== p[j]) continue outer;
    return true;
  }
  return false;
}

const addressText = (a: AddressObject | AddressObject[] | undefined) =>
  (a === undefined ? [] : Array.isArray(a) ? a : [a]).flatMap((o) => o.value).map((v) => `${v.name} ${v.address ?? ''}`).join('\n');

export async function decodeMessage(file: string): Promise<DecodedMessage | undefined> {
  const parsed = await simpleParser(await readFile(file));
  const id = parsed.messageId?.trim().replace(/^<(.*)>$/, '$1');
  if (!id) return undefined;
  const listRaw = parsed.headerLines.find((h) => h.key === 'list-id')?.line.replace(/^[^:]*:/, '') ?? '';
  return {
    messageId: id,
    subject: parsed.subject ?? '',
    from: addressText(parsed.from),
    to: addressText(parsed.to),
    cc: addressText(parsed.cc),
    text: parsed.text ?? '',
    // A signature of signed mail is no attachment to a reader (the project's definition,
    // extensions/attachments.js).
    filenames: parsed.attachments.filter((a) => !/^application\/(?:pgp-signature|(?:x-)?pkcs7-signature)$/.test(a.contentType)).map((a) => a.filename ?? a.contentType),
    headerNames: parsed.headerLines.map((h) => h.key),
    listId: (/<([^<>]+)>/.exec(listRaw)?.[1] ?? listRaw).trim().toLowerCase(),
    date: parsed.date && !Number.isNaN(parsed.date.getTime()) ? Math.floor(parsed.date.getTime() / 1000) : null,
  };
}
