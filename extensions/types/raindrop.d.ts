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
  /** Reads one document by key and schema (the schema must be listed in `reads`); null when absent. */
  open(key: Key, schemaId: string): RdDocument | null;
  /** Reads several documents at once, in the order asked. */
  openMany(requests: Array<[Key, string]>): Array<RdDocument | null>;
  /** The bytes of an attachment of a document this extension may read. */
  attachment(doc: RdDocument | string, name: string): Uint8Array | null;
  attachment(doc: RdDocument | string, name: string, as: 'text'): string | null;
  attachment(doc: RdDocument | string, name: string, as: 'bytes'): Uint8Array | null;
  /** Queries one of the project's views, e.g. `rd.query('rd_core/by_schema', {key: 'rd.msg.email'})`. */
  query(view: string, params?: Record<string, Json>): { rows: Array<{ id?: string; key: Json; value: Json; doc?: RdDocument }> };
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
  };
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
