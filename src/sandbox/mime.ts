/**
 * Host-side helpers of `rd.std` that the isolate cannot do itself (no npm modules, no
 * TextDecoder in there): MIME parsing with mailparser (nodemailer's parser: mailsplit,
 * libmime, iconv-lite, encoding-japanese), HTML to text with html-to-text, HTML
 * sanitizing with sanitize-html. They run in the pool process, are reached through the
 * asynchronous host-call path (one call per use), and return plain JSON data.
 *
 * Everything here is deterministic: no clock (mailparser puts "now" into an unparseable
 * Date header; that value is never used), no randomness.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { createRequire } from 'node:module';
import iconv from 'iconv-lite';
import { MailParser } from 'mailparser';
import { idOfHeaders, messageIdsOfReturned, returnedTypes } from './mime-returned.js';
import { convert as htmlToTextConvert } from 'html-to-text';
import sanitizeHtmlLib from 'sanitize-html';

const require = createRequire(import.meta.url);
// mailparser's own libmime (charset aliases, decode streams), so the charsets it knows
// are exactly the ones its decoder knows.
const { Libmime } = require(require.resolve('libmime', { paths: [require.resolve('mailparser')] })) as {
  Libmime: new () => { createDecodeStream(charset: string): Transform; normalizeCharset(charset: string): string };
};
const libmime = new Libmime();
// linkify-it (markdown-it's link finder), the copy mailparser itself depends on (and uses
// for its own textAsHtml), resolved the same way as libmime: no separate dependency.
const LinkifyIt = require(require.resolve('linkify-it', { paths: [require.resolve('mailparser')] })) as new (
  schemas?: Record<string, unknown>,
  options?: { fuzzyLink?: boolean; fuzzyEmail?: boolean; fuzzyIP?: boolean },
) => {
  add(schema: string, definition: null): unknown;
  match(text: string): Array<{ schema: string; index: number; lastIndex: number; raw: string; text: string; url: string }> | null;
};
const linkify = new LinkifyIt({}, { fuzzyLink: true, fuzzyEmail: false, fuzzyIP: false });
// Protocol-relative "//host" matches comment lines in patches far more often than links.
linkify.add('//', null);

/** Limits of the helpers, with reasons. */
export const mimeLimits = {
  /** Headers kept per message: real ones have a few dozen; spam with thousands of
   * Received lines must not blow up the document. */
  headers: 300,
  /** Characters kept per header value. */
  headerValueChars: 16_000,
  /** Parts listed per message (a MIME bomb can have tens of thousands). */
  parts: 500,
  /** HTML longer than this is not converted to text whole (html-to-text is linear but a
   * 20 MB page is still seconds): the first part is converted. */
  htmlToTextChars: 2_000_000,
  /** Text searched for links: the first characters only (linkify-it is linear, but a
   * multi-megabyte body is not worth it), and at most this many links returned. */
  findLinksChars: 1_000_000,
  findLinks: 1_000,
  /** Bytes read of a returned message or header block (a bounce's message/rfc822,
   * text/rfc822-headers...) to find its Message-ID: the headers come first, and a
   * returned copy may carry the whole original with its attachments. */
  returnedHeaderBytes: 64 * 1024,
  /** Levels of messages returned inside a returned message that are looked into. */
  returnedDepth: 2,
} as const;



/** A link found in text by `findLinks`. */
export interface FoundLink {
  /** The normalised URL (http:// added to a schemaless "www.example.org"). */
  url: string;
  /** The link as written. */
  text: string;
  /** "http:", "https:", "ftp:", "mailto:"...; "" for a schemaless (fuzzy) link. */
  schema: string;
  /** UTF-16 offsets of the link in the text. */
  index: number;
  last_index: number;
  /** Host name as the WHATWG URL parser gives it (lower case, IDN in punycode); null when
   * the URL does not parse or has no host (mailto:). */
  host: string | null;
}

export interface MimeAddress {
  name?: string;
  address?: string;
  /** The group's display name for addresses inside an RFC 5322 group. */
  group?: string;
}

export interface MimePart {
  part_id: string;
  content_type: string;
  charset?: string;
  disposition?: string;
  filename?: string;
  content_id?: string;
  /** Bytes after transfer decoding (attachments) or of the decoded UTF-8 text (text parts). */
  size?: number;
  encoding?: string;
  /** True for text parts that make up the message's text or HTML body. */
  body?: boolean;
  related?: boolean;
  /** Inside an attached message/rfc822. */
  in_attached_message?: boolean;
  /** For a message/rfc822 or returned-headers part: the Message-ID in its headers
   * (without <>), so a bounce can name the message it reports on. */
  message_id?: string;
  /** Message-IDs of messages returned inside that one (a bounce attaching a copy of itself). */
  nested_message_ids?: string[];
}

export interface ParsedMime {
  headers: Array<[string, string]>;
  subject: string | null;
  from: MimeAddress[];
  sender: MimeAddress[];
  reply_to: MimeAddress[];
  to: MimeAddress[];
  cc: MimeAddress[];
  bcc: MimeAddress[];
  /** ISO 8601 in UTC, or null when missing or unparseable. */
  date: string | null;
  date_raw: string | null;
  message_id: string | null;
  in_reply_to: string[];
  references: string[];
  list: Record<string, string>;
  text: string | null;
  html: string | null;
  parts: MimePart[];
  /** Normalised names of the charsets the bodies were decoded from. */
  charsets: string[];
  /** Body charsets the decoders do not know (or refuse), and what was used instead. */
  charset_fallbacks: Array<{ declared: string; used: string }>;
  problems: string[];
}

const utf7Names = /^(?:(?:cs)?unicode-?1-?1-?)?utf-?7(?:-?imap)?$/i;

/** Decodes a whole part once its bytes are in: for charsets decided from the content. */
class WholeDecoder extends Transform {
  private readonly chunks: Buffer[] = [];
  constructor(private readonly decodeAll: (bytes: Buffer) => string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    done();
  }
  override _flush(done: TransformCallback): void {
    this.push(Buffer.from(this.decodeAll(Buffer.concat(this.chunks)), 'utf8'));
    done();
  }
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });
/** The name a text part labelled US-ASCII (or unlabelled) goes to the decoder under. */
const asciiLabel = 'x-raindrop-ascii:';
/** For a charset nobody knows: UTF-8 when the bytes are valid UTF-8, else windows-1252
 * (what mail clients do with unlabelled 8-bit text; every byte maps to something). */
function sniff(bytes: Buffer): { text: string; used: string } {
  try {
    return { text: fatalUtf8.decode(bytes), used: 'utf-8' };
  } catch {
    return { text: iconv.decode(bytes, 'windows-1252'), used: 'windows-1252' };
  }
}

/** Is this charset one libmime's decode stream really decodes (not its UTF-8 fallback)? */
function knownCharset(charset: string): boolean {
  const normalized = libmime.normalizeCharset(charset);
  if (/^(?:(?:us-)?ascii|utf-8|7bit)$/i.test(normalized)) return true;
  if (/^jis|^iso-?2022-?jp|^EUCJP/i.test(normalized)) return true;
  if (utf7Names.test(normalized) || /^(?:base64|hex)$/i.test(normalized)) return false;
  return iconv.encodingExists(normalized);
}

/** UTF-7 encoded words (RFC 2047), which libmime refuses, decoded before it sees them. */
function decodeUtf7Words(value: string): string {
  if (!/=\?[^?]*utf-?7/i.test(value)) return value;
  return value.replace(/=\?((?:unicode-1-1-)?utf-?7)(?:\*[A-Za-z-]*)?\?([bBqQ])\?([^?]*)\?=/gi, (_m, _cs: string, enc: string, text: string) => {
    const bytes = enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return iconv.decode(bytes, 'utf7');
  });
}

function ids(value: string | null | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  for (const m of value.matchAll(/<([^<>\s]+)>/g)) if (m[1] && !out.includes(m[1])) out.push(m[1]);
  if (out.length === 0) for (const word of value.split(/[\s,]+/)) if (word.includes('@') && !out.includes(word)) out.push(word);
  return out;
}

/** A date as ISO UTC; a value without a zone is read as UTC (never local time). */
export function normaliseDate(raw: string | null): string | null {
  if (!raw) return null;
  // V8's Date.parse accepts almost anything ("sometime last week" is a date to it): only
  // values with a day, a month and a year go to it.
  if (!/\d{1,2}[\s-]+[A-Za-z]{3}[A-Za-z]*\.?[\s-]+\d{2,4}|\d{4}-\d\d-\d\d|[A-Za-z]{3}[A-Za-z]*\.?\s+\d{1,2},?\s+\d{4}/.test(raw)) return null;
  let value = raw.replace(/\([^()]*\)/g, ' ').replace(/\s+/g, ' ').trim();
  if (!/(?:[+-]\d{4}|\b(?:GMT|UTC?|Z|[ECMP][SD]T)\b)\s*$/i.test(value)) value += ' +0000';
  let t = Date.parse(value);
  if (Number.isNaN(t)) t = Date.parse(value.replace(/^[A-Za-z]+,?\s*/, ''));
  if (Number.isNaN(t)) return null;
  const d = new Date(t);
  const year = d.getUTCFullYear();
  if (year < 1970 || year > 9999) return null;
  return d.toISOString();
}

interface AddressValue { name?: string; address?: string; group?: AddressValue[] }

function addresses(value: unknown): MimeAddress[] {
  const out: MimeAddress[] = [];
  const lists = Array.isArray(value) ? value : value ? [value] : [];
  for (const list of lists as Array<{ value?: AddressValue[] }>) {
    for (const a of list?.value ?? []) {
      if (Array.isArray(a.group)) {
        for (const member of a.group) out.push(oneAddress(member, a.name));
        if (a.group.length === 0 && a.name) out.push({ group: a.name });
      } else {
        out.push(oneAddress(a));
      }
    }
  }
  return out.filter((a) => a.name !== undefined || a.address !== undefined || a.group !== undefined);
}

function oneAddress(a: AddressValue, group?: string): MimeAddress {
  const out: MimeAddress = {};
  const name = (a.name ?? '').trim();
  const address = (a.address ?? '').trim();
  if (name) out.name = name;
  if (address) out.address = address;
  if (group) out.group = group;
  return out;
}

interface TreeNode {
  node: { partNr?: Array<number | string>; filename?: string; root?: boolean };
  headers: Map<string, unknown>;
  contentType?: string;
  charset?: string;
  disposition?: string;
  encoding?: string;
  isAttachment?: boolean;
  textContent?: string;
  children?: TreeNode[];
  parent?: TreeNode;
}

/** Strips a leading mbox "From " line, which is not a header. */
function withoutMboxLine(bytes: Buffer): Buffer {
  if (bytes.length > 5 && bytes.subarray(0, 5).toString('latin1') === 'From ') {
    const nl = bytes.indexOf(10);
    return nl < 0 ? Buffer.alloc(0) : bytes.subarray(nl + 1);
  }
  return bytes;
}

/** Parses one RFC 822 message. Never throws for malformed input: what went wrong is in
 * `problems`. */
export async function parseMime(input: Uint8Array): Promise<ParsedMime> {
  const bytes = withoutMboxLine(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  const problems: string[] = [];
  const charsets = new Set<string>();
  const fallbacks: Array<{ declared: string; used: string }> = [];
  const parser = new MailParser({ skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true, keepDeliveryStatus: true } as ConstructorParameters<typeof MailParser>[0]);
  const internals = parser as unknown as {
    decoder: { decodeStream(charset: string): Transform };
    libmime: { decodeWords(value: string): string };
    tree: TreeNode | false;
    createNode(node: { charset?: string; contentType?: string }): { charset?: string; disposition?: string };
    headerLines?: Array<{ key: string; line: string }>;
  };
  // Every body part's charset goes through here: UTF-7 is decoded (mailparser refuses it
  // as a filter-evasion risk; our HTML is sanitized before display and text is text), an
  // unknown name is recorded and the content decides between UTF-8 and windows-1252.
  internals.decoder = {
    decodeStream(charset: string) {
      if (charset.startsWith(asciiLabel)) {
        const declared = charset.slice(asciiLabel.length);
        return new WholeDecoder((b) => {
          if (!b.some((byte) => byte >= 0x80)) return b.toString('latin1');
          const { text, used } = sniff(b);
          fallbacks.push({ declared: declared || '(none)', used });
          charsets.add(used);
          return text;
        });
      }
      const normalized = libmime.normalizeCharset(charset).toLowerCase();
      if (utf7Names.test(charset.trim()) || utf7Names.test(normalized)) {
        charsets.add('utf-7');
        return new WholeDecoder((b) => iconv.decode(b, 'utf7'));
      }
      // Mail programs' own names for real charsets (Windows font charset names, typos).
      const alias = charset.toLowerCase().replace(/_charset$/, '').replace(/^chinese-?big5$/, 'big5').replace(/^ks_c_5601$/, 'ks_c_5601-1987');
      if (alias !== charset.toLowerCase() && knownCharset(alias)) {
        charsets.add(libmime.normalizeCharset(alias).toLowerCase());
        fallbacks.push({ declared: charset, used: libmime.normalizeCharset(alias).toLowerCase() });
        return libmime.createDecodeStream(alias);
      }
      if (knownCharset(charset)) {
        charsets.add(normalized);
        return libmime.createDecodeStream(charset);
      }
      return new WholeDecoder((b) => {
        const { text, used } = sniff(b);
        fallbacks.push({ declared: charset, used });
        charsets.add(used);
        return text;
      });
    },
  };
  // mailparser reads a text part labelled US-ASCII, or not labelled at all, as UTF-8
  // without asking the decoder above, so 8-bit bytes in it (a Windows quote in a part
  // that says us-ascii: SpamAssassin hard-ham 00249) became U+FFFD. Such a part is
  // routed to the decoder under a name of ours, and the content decides as for an
  // unknown charset: what browsers (WHATWG: "us-ascii" is windows-1252) and mail clients do.
  const createNode = internals.createNode.bind(parser);
  internals.createNode = (node: { charset?: string; contentType?: string }) => {
    const created = createNode(node);
    const label = created.charset?.toLowerCase().replace(/[^a-z0-9]+/g, '');
    if (created.disposition === 'inline' && (label === undefined || label === 'ascii' || label === 'usascii')) {
      created.charset = `${asciiLabel}${created.charset ?? ''}`;
    }
    return created;
  };
  const decodeWords = internals.libmime.decodeWords.bind(internals.libmime);
  internals.libmime.decodeWords = (value: string) => decodeWords(decodeUtf7Words(value));

  let headers = new Map<string, unknown>();
  let text: string | null = null;
  let html: string | null = null;
  const attachments: Array<{ partId: string | null; size: number; contentType: string; filename?: string; contentId?: string; related?: boolean; disposition?: string }> = [];
  /** The first bytes of returned messages and header blocks, by part id. */
  const returnedHeads = new Map<string, Buffer[]>();
  await new Promise<void>((resolve) => {
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    parser.on('error', (err: Error) => {
      problems.push(`parser: ${err.message}`);
      settle();
    });
    parser.on('headers', (h: Map<string, unknown>) => {
      headers = h;
    });
    parser.on('data', (data: { type: string; text?: string; html?: string | false; content?: NodeJS.ReadableStream & { on: (...a: never[]) => unknown }; release?: () => void; partId?: string | null; size?: number; contentType?: string; filename?: string; contentId?: string; related?: boolean; contentDisposition?: string }) => {
      if (data.type === 'text') {
        if (typeof data.text === 'string') text = data.text;
        if (typeof data.html === 'string') html = data.html;
      } else if (data.type === 'attachment') {
        const entry: (typeof attachments)[number] = { partId: data.partId ?? null, size: 0, contentType: data.contentType ?? 'application/octet-stream' };
        if (data.filename) entry.filename = data.filename;
        if (data.contentId) entry.contentId = data.contentId;
        if (data.related) entry.related = true;
        if (data.contentDisposition) entry.disposition = data.contentDisposition;
        attachments.push(entry);
        const content = data.content as unknown as NodeJS.ReadableStream;
        const keep = returnedTypes.has(entry.contentType.toLowerCase()) ? returnedHeads.set(entry.partId ?? '', []).get(entry.partId ?? '') : undefined;
        content.on('data', (chunk: Buffer) => {
          if (keep && entry.size < mimeLimits.returnedHeaderBytes) keep.push(chunk.subarray(0, mimeLimits.returnedHeaderBytes - entry.size));
          entry.size += chunk.length;
        });
        content.on('end', () => {
          data.release?.();
        });
      }
    });
    parser.on('end', settle);
    parser.end(bytes);
  });

  const rawHeaders: Array<[string, string]> = [];
  for (const { key, line } of internals.headerLines ?? []) {
    if (rawHeaders.length >= mimeLimits.headers) break;
    const raw = line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
    let value: string;
    try {
      value = decodeWords(decodeUtf7Words(raw));
    } catch {
      value = raw;
    }
    rawHeaders.push([key, value.slice(0, mimeLimits.headerValueChars)]);
  }
  const first = (name: string): string | null => rawHeaders.find(([k]) => k === name)?.[1] ?? null;

  const list: Record<string, string> = {};
  for (const name of ['list-id', 'list-post', 'list-unsubscribe', 'list-subscribe', 'list-help', 'list-owner', 'list-archive', 'list-unsubscribe-post']) {
    const v = first(name);
    if (v !== null) list[name.slice(5).replace(/-/g, '_')] = v;
  }

  const returnedIds = new Map<string, string[]>();
  for (const [partId, chunks] of returnedHeads) returnedIds.set(partId, await messageIdsOfReturned(Buffer.concat(chunks), mimeLimits.returnedDepth, mimeLimits.returnedHeaderBytes));
  const parts: MimePart[] = [];
  const attachmentsById = new Map(attachments.map((a) => [a.partId ?? '', a]));
  const walk = (node: TreeNode, inMessage: boolean) => {
    if (parts.length >= mimeLimits.parts) return;
    const contentType = (node.contentType ?? 'text/plain').toLowerCase();
    const partId = (node.node?.partNr ?? []).filter((n) => typeof n === 'number').join('.') || (node.node?.root ? '' : '?');
    const part: MimePart = { part_id: partId || '0', content_type: contentType };
    if (node.charset) part.charset = node.charset.toLowerCase();
    const isMultipart = contentType.startsWith('multipart/');
    if (!isMultipart) {
      if (node.disposition) part.disposition = node.disposition;
      if (node.encoding && node.encoding !== 'binary') part.encoding = node.encoding;
      const att = attachmentsById.get(partId);
      if (att && node.isAttachment) {
        part.size = att.size;
        if (att.filename) part.filename = att.filename;
        if (att.contentId) part.content_id = att.contentId.replace(/^<|>$/g, '');
        if (att.related) part.related = true;
      } else if (typeof node.textContent === 'string') {
        part.size = Buffer.byteLength(node.textContent);
        if (!node.isAttachment && (contentType === 'text/plain' || contentType === 'text/html')) part.body = true;
        if (node.node?.filename) part.filename = node.node.filename;
      }
      if (inMessage) part.in_attached_message = true;
      const inlineId = returnedTypes.has(contentType) ? idOfHeaders(node.children?.[0]?.headers) : null;
      const [returnedId, ...nestedIds] = returnedIds.get(partId) ?? (inlineId ? [inlineId] : []);
      if (returnedId) part.message_id = returnedId;
      if (nestedIds.length > 0) part.nested_message_ids = nestedIds.slice(0, 10);
      parts.push(part);
    } else if (!node.node?.root || inMessage) {
      if (inMessage) part.in_attached_message = true;
      parts.push(part);
    }
    const nested = inMessage || contentType === 'message/rfc822';
    for (const child of node.children ?? []) walk(child, nested);
  };
  if (internals.tree) walk(internals.tree, false);

  const dateRaw = first('date');
  const messageIdRaw = first('message-id');
  const result: ParsedMime = {
    headers: rawHeaders,
    subject: typeof headers.get('subject') === 'string' ? (headers.get('subject') as string) : first('subject'),
    from: addresses(headers.get('from')),
    sender: addresses(headers.get('sender')),
    reply_to: addresses(headers.get('reply-to')),
    to: addresses(headers.get('to')),
    cc: addresses(headers.get('cc')),
    bcc: addresses(headers.get('bcc')),
    date: normaliseDate(dateRaw),
    date_raw: dateRaw,
    message_id: ids(messageIdRaw)[0] ?? null,
    in_reply_to: ids(first('in-reply-to')),
    references: ids(rawHeaders.filter(([k]) => k === 'references').map(([, v]) => v).join(' ')),
    list,
    text,
    html,
    parts,
    charsets: [...charsets].sort(),
    charset_fallbacks: fallbacks,
    problems,
  };
  if (!rawHeaders.length) problems.push('no headers found');
  return result;
}

/** HTML to plain text with html-to-text: links as "text [url]", images dropped. */
export function htmlToText(html: string): string {
  const input = html.length > mimeLimits.htmlToTextChars ? html.slice(0, mimeLimits.htmlToTextChars) : html;
  return htmlToTextConvert(input, {
    wordwrap: false,
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true, ignoreHref: false } },
    ],
  }).trim();
}

/** HTML made safe to show: sanitize-html with a mail allowlist; no scripts, no styles
 * that load anything, no event handlers; remote images kept only as data attributes the
 * front end can choose to restore (blocked by default). */
export function sanitizeHtml(html: string): string {
  return sanitizeHtmlLib(html, {
    allowedTags: sanitizeHtmlLib.defaults.allowedTags.concat(['img', 'font', 'center', 'span', 'div']),
    allowedAttributes: {
      a: ['href', 'name', 'title'],
      img: ['src', 'alt', 'title', 'width', 'height', 'data-rd-src'],
      font: ['color', 'size', 'face'],
      td: ['colspan', 'rowspan', 'align', 'valign', 'width'],
      th: ['colspan', 'rowspan', 'align', 'valign', 'width'],
      table: ['width', 'border', 'cellpadding', 'cellspacing'],
      '*': ['align', 'dir', 'lang'],
    },
    allowedSchemes: ['http', 'https', 'mailto', 'cid', 'data'],
    allowedSchemesByTag: { img: ['cid', 'data'], a: ['http', 'https', 'mailto'] },
    transformTags: {
      img: (tagName, attribs) => {
        const src = attribs.src ?? '';
        if (/^(?:cid|data):/i.test(src)) return { tagName, attribs };
        const { src: _src, ...rest } = attribs;
        return { tagName, attribs: src ? { ...rest, 'data-rd-src': src } : rest };
      },
      a: (tagName, attribs) => ({ tagName, attribs: { ...attribs } }),
    },
    disallowedTagsMode: 'discard',
  });
}

/** Links in plain text with linkify-it (schemas http, https, ftp, mailto, and schemaless
 * links with a known top-level domain; no bare e-mail addresses, no bare IPs, no "//host"). */
export function findLinks(text: string): FoundLink[] {
  const input = text.length > mimeLimits.findLinksChars ? text.slice(0, mimeLimits.findLinksChars) : text;
  const out: FoundLink[] = [];
  for (const m of linkify.match(input) ?? []) {
    if (out.length >= mimeLimits.findLinks) break;
    let host: string | null = null;
    try {
      host = new URL(m.url).hostname.replace(/\.$/, '') || null;
    } catch {
      host = null;
    }
    out.push({ url: m.url, text: m.text, schema: m.schema, index: m.index, last_index: m.lastIndex, host });
  }
  return out;
}

/** The `std.*` operations the isolate reaches through the async host-call path. */
export async function runStd(op: string, arg: unknown): Promise<string> {
  switch (op) {
    case 'std.parseMime': {
      if (!(arg instanceof Uint8Array)) throw new Error('rd.std.parseMime(bytes): pass a Uint8Array');
      return JSON.stringify(await parseMime(arg));
    }
    case 'std.htmlToText':
      return JSON.stringify(htmlToText(String(arg)));
    case 'std.sanitizeHtml':
      return JSON.stringify(sanitizeHtml(String(arg)));
    case 'std.findLinks':
      return JSON.stringify(findLinks(String(arg)));
    default:
      throw new Error(`unknown helper "${op}"`);
  }
}
