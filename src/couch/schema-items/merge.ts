import { contentHash, sha256Hex, docIdFor, type JsonValue, type RdKey } from '../../core/index.js';
import type { AttachmentStub, CouchDoc } from '../documents.js';
import { couchLimits } from '../limits.js';
import {
  type SchemaItemInput,
  type StoredItem,
  attachmentName,
  assertItemInput,
  defaultConfidence,
} from './model.js';

/**
 * The pure half of the schema-item model: given what is stored and one writer's
 * contribution, compute the next document. No I/O here, so the queue can compute a whole
 * cascade in memory and write it in bulk.
 */

export type FullItem = StoredItem & { fields: Record<string, JsonValue> };

export interface PendingUpload {
  name: string;
  contentType: string;
  data: Uint8Array;
}

export interface MergeResult {
  doc: CouchDoc;
  /** False when the stored document already holds exactly this contribution. */
  changed: boolean;
  /** Large attachments to PUT one by one after the document is written. */
  uploads: PendingUpload[];
}

/** The writers of a stored document, each with its own fields. */
export function itemsOf(doc: CouchDoc | undefined): Map<string, FullItem> {
  const items = new Map<string, FullItem>();
  const stored = (doc?.rd_schema_items ?? {}) as Record<string, StoredItem>;
  const writers = Object.keys(stored);
  for (const writer of writers) {
    const item = stored[writer] as StoredItem;
    const fields = item.fields ?? (writers.length === 1 && doc ? topLevelFields(doc) : {});
    items.set(writer, { ...item, fields });
  }
  return items;
}

/** The source id a writer's item in this document names (undefined: no such item, or an
 * item without a source). */
export function itemSourceId(doc: CouchDoc | null | undefined, writer: string): string | undefined {
  return ((doc?.rd_schema_items ?? {}) as Record<string, StoredItem | undefined>)[writer]?.rd_source?.id;
}

/** The aggregated (top-level) fields of a document: everything not `_*` or `rd_*`. */
export function topLevelFields(doc: CouchDoc): Record<string, JsonValue> {
  const fields: Record<string, JsonValue> = {};
  for (const [name, value] of Object.entries(doc)) {
    if (!name.startsWith('_') && !name.startsWith('rd_')) fields[name] = value as JsonValue;
  }
  return fields;
}

/** Writers in the order their fields apply: lower confidence first, so higher wins;
 * ties broken by writer id so every process computes the same document. */
export function applyOrder(items: Map<string, FullItem>): string[] {
  return [...items.keys()].sort((a, b) => {
    const ca = items.get(a)?.confidence ?? 0;
    const cb = items.get(b)?.confidence ?? 0;
    return ca !== cb ? ca - cb : a < b ? -1 : a > b ? 1 : 0;
  });
}

export function applyItem(existing: CouchDoc | undefined, input: SchemaItemInput): MergeResult {
  assertItemInput(input);
  const attachmentMeta: NonNullable<StoredItem['attachments']> = {};
  for (const [name, att] of Object.entries(input.attachments ?? {})) {
    attachmentMeta[name] = { content_type: att.contentType, length: att.data.byteLength, sha256: sha256Hex(att.data) };
  }
  const base = {
    rd_source: input.source,
    category: input.category,
    confidence: input.confidence ?? defaultConfidence,
    schema_version: input.schemaVersion ?? 1,
    ...(input.codeHash === undefined ? {} : { code_hash: input.codeHash }),
    ...(input.deps === undefined ? {} : { deps: [...input.deps].sort() }),
    ...(Object.keys(attachmentMeta).length === 0 ? {} : { attachments: attachmentMeta }),
  };
  const item: FullItem = { ...base, content_hash: itemContentHash(base, input.fields), fields: input.fields };

  const items = itemsOf(existing);
  const previous = items.get(input.writer);
  const attachments = { ...(existing?._attachments ?? {}) };
  if (previous && previous.content_hash === item.content_hash && attachmentsPresent(attachments, input.writer, attachmentMeta)) {
    return { doc: existing as CouchDoc, changed: false, uploads: [] };
  }

  // Replace this writer's attachments; keep everyone else's as stubs.
  const uploads: PendingUpload[] = [];
  const prefix = attachmentName(input.writer, '');
  for (const name of Object.keys(attachments)) {
    if (name.startsWith(prefix)) {
      const own = name.slice(prefix.length);
      const before = previous?.attachments?.[own];
      const after = attachmentMeta[own];
      const same = before && after && before.sha256 === after.sha256 && attachments[name]?.length === after.length;
      if (!same) delete attachments[name];
    }
  }
  for (const [name, att] of Object.entries(input.attachments ?? {})) {
    const full = attachmentName(input.writer, name);
    if (attachments[full]) continue;
    if (att.data.byteLength > couchLimits.inlineAttachmentMaxBytes) {
      uploads.push({ name: full, contentType: att.contentType, data: att.data });
    } else {
      attachments[full] = { content_type: att.contentType, data: Buffer.from(att.data).toString('base64') };
    }
  }

  items.set(input.writer, item);
  const doc = buildDoc(existing, input.key, input.schemaId, item.schema_version, items, attachments);
  return { doc, changed: true, uploads };
}

/** What makes two contributions "the same": everything stored about the item, fields
 * included. One formula for writes and for migrations, so a migrated item followed by
 * the same write is recognised as unchanged. */
export function itemContentHash(item: Omit<StoredItem, 'content_hash' | 'fields'>, fields: Record<string, JsonValue>): string {
  const { content_hash: _h, fields: _f, ...base } = item as StoredItem;
  return contentHash({ ...base, fields });
}

/** The document rebuilt from (changed) items, e.g. after their fields were upgraded. */
export function rebuildDoc(existing: CouchDoc, items: Map<string, FullItem>, schemaVersion: number): CouchDoc {
  return buildDoc(existing, existing.rd_key as RdKey, String(existing.rd_schema_id), schemaVersion, items, { ...(existing._attachments ?? {}) });
}

/** The document without one writer's contribution; `_deleted` when it was the last. */
export function removeItem(existing: CouchDoc, writer: string): { doc: CouchDoc; changed: boolean } {
  const items = itemsOf(existing);
  if (!items.has(writer)) return { doc: existing, changed: false };
  items.delete(writer);
  if (items.size === 0) {
    return { doc: { _id: existing._id, ...(existing._rev ? { _rev: existing._rev } : {}), _deleted: true }, changed: true };
  }
  const attachments = { ...(existing._attachments ?? {}) };
  const prefix = attachmentName(writer, '');
  for (const name of Object.keys(attachments)) if (name.startsWith(prefix)) delete attachments[name];
  const key = existing.rd_key as RdKey;
  const version = typeof existing.rd_schema_version === 'number' ? existing.rd_schema_version : 1;
  return { doc: buildDoc(existing, key, String(existing.rd_schema_id), version, items, attachments), changed: true };
}

function buildDoc(
  existing: CouchDoc | undefined,
  key: RdKey,
  schemaId: string,
  schemaVersion: number,
  items: Map<string, FullItem>,
  attachments: Record<string, AttachmentStub>,
): CouchDoc {
  const order = applyOrder(items);
  const fields: Record<string, JsonValue> = {};
  let provider: string | undefined;
  for (const writer of order) {
    const item = items.get(writer) as FullItem;
    Object.assign(fields, item.fields);
    if (item.category === 'provider') provider = writer;
  }
  const several = items.size > 1;
  const storedItems: Record<string, StoredItem> = {};
  for (const writer of [...items.keys()].sort()) {
    const { fields: own, ...rest } = items.get(writer) as FullItem;
    storedItems[writer] = several ? { ...rest, fields: own } : rest;
  }
  const doc: CouchDoc = {
    _id: existing?._id ?? docIdFor(key, schemaId),
    ...(existing?._rev ? { _rev: existing._rev } : {}),
    rd_key: key as unknown as JsonValue,
    rd_schema_id: schemaId,
    rd_schema_version: schemaVersion,
    ...(provider === undefined ? {} : { rd_schema_provider: provider }),
    rd_schema_items: storedItems,
    ...fields,
  };
  if (Object.keys(attachments).length > 0) {
    const out: Record<string, AttachmentStub> = {};
    for (const [name, att] of Object.entries(attachments)) {
      out[name] = att.data !== undefined ? att : { content_type: att.content_type, stub: true, ...(att.length === undefined ? {} : { length: att.length }), ...(att.digest === undefined ? {} : { digest: att.digest }) };
    }
    doc._attachments = out;
  }
  return doc;
}

/** A crash between a document write and its large-attachment uploads leaves the item
 * recorded but its bytes missing; this catches that so the next write repairs it. */
function attachmentsPresent(
  attachments: Record<string, AttachmentStub>,
  writer: string,
  meta: NonNullable<StoredItem['attachments']>,
): boolean {
  return Object.entries(meta).every(([name, m]) => attachments[attachmentName(writer, name)]?.length === m.length);
}
