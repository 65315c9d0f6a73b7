/**
 * Types for Raindrop extension authors. An extension is one plain `.js` file; annotate
 * its default export to get completion and checking in an editor:
 *
 *   // @ts-check
 *   /** @type {import('raindrop/extensions/types/raindrop').Extension} *\/
 *   export default { id: 'me.my-extension', source_schemas: ['rd.msg.email'], ... };
 *
 * (Inside this repository: `import('../types/raindrop').Extension`.)
 */

/** JSON data: what documents, fields and `rd.later` values are made of. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An item's name: `[type, value]`, e.g. `["email", "abc@example.org"]`. */
export type Key = [type: string, value: Json];

/** A stored document: one schema of one item, as CouchDB holds it. */
export interface RdDocument {
  _id: string;
  _rev?: string;
  rd_key: Key;
  rd_schema_id: string;
  rd_schema_version: number;
  /** The writer that completed the schema (absent while only extenders wrote). */
  rd_schema_provider?: string;
  /** One entry per writer that contributed. */
  rd_schema_items: Record<string, { rd_source: { id: string; hash: string } | null; confidence: number; category: 'provider' | 'extender' }>;
  _attachments?: Record<string, { content_type: string; length?: number; stub?: boolean }>;
  /** The schema's own fields. */
  [field: string]: unknown;
}

export interface EmitOptions {
  /** The item the output is about; default: the source document's key. */
  key?: Key;
  /** Bytes to store with the output, namespaced under this extension. */
  attachments?: Record<string, { content_type?: string; data: string | Uint8Array }>;
  /** Documents (ids, or [key, schemaId] pairs) whose change should re-run this source. */
  deps?: Array<string | [Key, string]>;
}

/** The extension's only door to the world. Every call is synchronous. */
export interface Rd {
  /** Writes fields of `schemaId` (must be listed in `emits`); returns the output's id. */
  emit(schemaId: string, fields: Record<string, Json>, options?: EmitOptions): string;
  /** later_handler only: takes back this extension's own later_handler output of `schemaId`
   * (listed in `emits`) for `key`, e.g. a total whose last member left. Its item is removed;
   * the document goes when no other writer contributed to it; nothing happens when there
   * is none. Emitting and retracting one document in one run is refused. A handler never
   * needs it: an output its new run does not emit again is removed. Returns the id. */
  retract(key: Key, schemaId: string): string;
  /** Reads one document by key and schema (the schema must be listed in `reads`); null when absent. */
  open(key: Key, schemaId: string): RdDocument | null;
  /** Reads several documents at once, in the order asked. */
  openMany(requests: Array<[Key, string]>): Array<RdDocument | null>;
  /** The bytes of an attachment of a document this extension was given, or of a document
   * of a schema listed in `reads`; anything else is refused (a `capability` failure). */
  attachment(doc: RdDocument | string, name: string): Uint8Array | null;
  attachment(doc: RdDocument | string, name: string, as: 'text'): string | null;
  attachment(doc: RdDocument | string, name: string, as: 'bytes'): Uint8Array | null;
  /** Queries one of the project's views, e.g. `rd.query('rd_core/by_schema', {key: 'rd.msg.email', reduce: false})`.
   * Only rows emitted by documents of the schemas listed in `reads` come back (so `limit`
   * may return fewer); reduce results are refused (pass `reduce: false`), and so is any
   * query by an extension with no `reads`. */
  query(view: string, params?: Record<string, Json>): { rows: Array<{ id: string; key: Json; value: Json; doc?: RdDocument }> };
  /** The identities of the user's accounts, e.g. `[["email", "me@example.org"]]`. */
  myIdentities(): Key[];
  /** Keeps a value for `later_handler`, which runs once per batch with all of them. */
  later(value: Json): void;
  log: {
    debug(...parts: unknown[]): void;
    info(...parts: unknown[]): void;
    warn(...parts: unknown[]): void;
  };
  /** Host-provided helpers the sandbox lacks. */
  std: {
    /** Decodes bytes in any charset iconv-lite knows (throws on an unknown one). */
    decode(bytes: Uint8Array, charset: string): string;
    /** Hex digest (default sha256) of a string (UTF-8) or bytes. */
    hash(data: string | Uint8Array, algorithm?: 'sha256' | 'sha1' | 'md5'): string;
    /** Parses an RFC 822 message on the host (mailparser): decoded headers, addresses,
     * date, ids, List-* headers, the flattened part list and the decoded bodies. Never
     * throws for malformed mail: what went wrong is in `problems`. One host call. */
    parseMime(bytes: Uint8Array): ParsedMime;
    /** Plain text of an HTML body (html-to-text; links as "text [url]", images dropped). */
    htmlToText(html: string): string;
    /** HTML safe to show (sanitize-html): no scripts, handlers or styles that load
     * anything; remote images moved to `data-rd-src` (blocked by default). */
    sanitizeHtml(html: string): string;
    /** Links in plain text (linkify-it on the host): http, https, ftp, mailto and
     * schemaless links with a known top-level domain ("www.example.org", "example.com");
     * no bare e-mail addresses or IPs. At most 1,000, from the first 1,000,000 characters. */
    findLinks(text: string): FoundLink[];
  };
}

/** A link found by `rd.std.findLinks`. */
export interface FoundLink {
  /** The normalised URL ("http://" added to a schemaless link). */
  url: string;
  /** The link as written. */
  text: string;
  /** "http:", "https:", "ftp:", "mailto:"; "" for a schemaless link. */
  schema: string;
  /** UTF-16 offsets in the text. */
  index: number;
  last_index: number;
  /** Host name (lower case, IDN as punycode); null when there is none (mailto:) or the URL does not parse. */
  host: string | null;
}

/** An address as parsed; a broken one keeps its text in `name`. */
export interface MimeAddress {
  name?: string;
  address?: string;
  /** The RFC 5322 group it was listed in. */
  group?: string;
}

/** One leaf of the MIME tree (and each multipart container below the root). */
export interface MimePart {
  /** IMAP-style part number ("1.2"); "0" for a single-part message. */
  part_id: string;
  content_type: string;
  charset?: string;
  disposition?: string;
  filename?: string;
  content_id?: string;
  /** Decoded bytes (attachments) or UTF-8 bytes of the decoded text (text parts). */
  size?: number;
  encoding?: string;
  /** A text part that makes up the message's text or HTML body. */
  body?: boolean;
  related?: boolean;
  in_attached_message?: boolean;
  /** For a message/rfc822 or returned-headers part (a bounce's): its Message-ID, without <>. */
  message_id?: string;
  /** Message-IDs of messages returned inside that part (a bounce attaching a copy of itself). */
  nested_message_ids?: string[];
}

/** What `rd.std.parseMime` returns. */
export interface ParsedMime {
  /** Every header, in order: [lower-case name, unfolded value with RFC 2047 words decoded]. */
  headers: Array<[string, string]>;
  subject: string | null;
  from: MimeAddress[];
  sender: MimeAddress[];
  reply_to: MimeAddress[];
  to: MimeAddress[];
  cc: MimeAddress[];
  bcc: MimeAddress[];
  /** ISO 8601 UTC; a date without a zone is read as UTC; null when missing or unparseable. */
  date: string | null;
  date_raw: string | null;
  /** Without angle brackets. */
  message_id: string | null;
  in_reply_to: string[];
  references: string[];
  /** List-* headers by name without "list-" (id, post, unsubscribe, ...). */
  list: Record<string, string>;
  text: string | null;
  html: string | null;
  parts: MimePart[];
  /** Charsets the bodies were decoded from (normalised names). */
  charsets: string[];
  /** Body charsets no decoder knows, and what was used instead (UTF-8 when the bytes are
   * valid UTF-8, else windows-1252), or the real charset a known misspelling stands for. */
  charset_fallbacks: Array<{ declared: string; used: string }>;
  problems: string[];
}

export interface Extension {
  /** Dot-separated lower-case words, unique among installed extensions. */
  id: string;
  /** The schemas whose documents this extension runs on. */
  source_schemas: string[];
  /** The schemas it may emit. */
  emits?: string[];
  /** The schemas it may open. */
  reads?: string[];
  /** provider: completes a schema; extender: adds fields; smart: both, by judgement. Default extender. */
  category?: 'provider' | 'extender' | 'smart';
  /** Where two writers set one field, the higher confidence wins. Default 1. */
  confidence?: number;
  /** Set when emits declare `deps` that should re-trigger this extension. */
  uses_dependencies?: boolean;
  /** Runs on each source document. Must be synchronous and deterministic: no clock, no randomness. */
  handler(doc: RdDocument, rd: Rd): void;
  /** Runs once per batch with every value given to `rd.later`. */
  later_handler?(values: Json[], rd: Rd): void;
}
