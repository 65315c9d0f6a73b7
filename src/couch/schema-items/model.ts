import { RaindropError, assertKey, assertSchemaId, errorCodes, type JsonValue, type RdKey } from '../../core/index.js';

/** Providers complete a schema; extenders only add fields to one a provider wrote. */
export type WriterCategory = 'provider' | 'extender';

/** What an output was derived from: the source document and the hash of its content. */
export interface SourceRef {
  id: string;
  hash: string;
}

export interface AttachmentInput {
  contentType: string;
  data: Uint8Array;
}

/** One writer's contribution to the (key, schema) document. */
export interface SchemaItemInput {
  key: RdKey;
  schemaId: string;
  /** The schema version the fields are written at (upgrades are the schema layer's job). */
  schemaVersion?: number;
  /** Who writes: an extension id, or a fetcher/core name such as `fetch.imap`. */
  writer: string;
  category: WriterCategory;
  /** Where two writers set the same field, the higher confidence wins. */
  confidence?: number;
  /** null for raw items written by fetchers; everything else names its source. */
  source: SourceRef | null;
  /** Hash of the writer's code (extensions). */
  codeHash?: string;
  fields: Record<string, JsonValue>;
  /** The writer's complete set of attachments on this document; absent means none. */
  attachments?: Record<string, AttachmentInput>;
  /** Documents this item depends on (ids); a change to one re-triggers the source. */
  deps?: string[];
}

/** How one writer's entry is stored under `rd_schema_items[writer]`. */
export interface StoredItem {
  rd_source: SourceRef | null;
  category: WriterCategory;
  confidence: number;
  schema_version: number;
  content_hash: string;
  code_hash?: string;
  deps?: string[];
  /** Attachment names (without the writer namespace) with what identifies their bytes. */
  attachments?: Record<string, { content_type: string; length: number; sha256: string }>;
  /** The writer's own fields; stored only while the document has several writers (with
   * one writer they are exactly the top-level fields, so storing them twice is waste). */
  fields?: Record<string, JsonValue>;
}

/** Default confidence of a writer that does not say. */
export const defaultConfidence = 1;

const writerPattern = /^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$/;

/** Validates what the caller passes in; every failure names the fix. */
export function assertItemInput(input: SchemaItemInput): void {
  assertKey(input.key);
  assertSchemaId(input.schemaId);
  assertWriter(input.writer);
  if (input.category !== 'provider' && input.category !== 'extender') {
    throw invalid(`category must be "provider" or "extender", got ${JSON.stringify(input.category)}`);
  }
  if (input.confidence !== undefined && !Number.isFinite(input.confidence)) {
    throw invalid(`confidence of writer "${input.writer}" must be a finite number`);
  }
  if (input.schemaVersion !== undefined && (!Number.isInteger(input.schemaVersion) || input.schemaVersion < 1)) {
    throw invalid(`schemaVersion must be an integer from 1, got ${String(input.schemaVersion)}`);
  }
  for (const name of Object.keys(input.fields)) {
    if (name.startsWith('_') || name.startsWith('rd_')) {
      throw invalid(`field "${name}" of schema ${input.schemaId} is reserved: names starting with "_" or "rd_" belong to the system; rename it`);
    }
  }
  for (const name of Object.keys(input.attachments ?? {})) {
    if (name.length === 0 || name.startsWith('_')) {
      throw invalid(`attachment name "${name}" is not allowed: use a non-empty name that does not start with "_"`);
    }
  }
}

export function assertWriter(writer: unknown): asserts writer is string {
  if (typeof writer !== 'string' || !writerPattern.test(writer)) {
    throw invalid(`writer id ${JSON.stringify(writer)} is not valid: use letters, digits and . _ : @ + - (no "/")`);
  }
}

/** Attachments are namespaced by writer so two writers never clobber each other's. */
export function attachmentName(writer: string, name: string): string {
  return `${writer}/${name}`;
}

function invalid(message: string): RaindropError {
  return new RaindropError(errorCodes.INVALID_ITEM, message);
}
