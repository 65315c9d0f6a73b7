import { RaindropError, docIdFor, errorCodes, sha256Hex, type RdKey } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { type WriteResult, bulkWrite } from '../couch/bulk-write.js';
import { callCouch, type Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { applyItem, topLevelFields, type PendingUpload } from '../couch/schema-items/merge.js';
import { writeSchemaItem } from '../couch/schema-items/write-schema-item.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { messageKey } from './message-key.js';
import { type ItemUpdate, planItemUpdates, updateItems } from './write-items.js';

export const rawSchemaId = 'rd.msg.rfc822';
/** One writer for every fetcher, so a message fetched by IMAP and by import is one
 * contribution and its bytes are stored once. */
export const rawWriter = 'rd.fetch';
export const rawAttachment = 'rfc822';

export interface RawMessage {
  bytes: Uint8Array;
  /** Which fetcher saw it, e.g. `imap:work` or `import:mbox`. */
  receivedFrom: string;
}

export type StoredRaw =
  | { outcome: 'stored' | 'duplicate'; id: string; key: RdKey; synthesized: boolean }
  | { outcome: 'refused'; reason: string };

/** A message's key as computed from its bytes, before anything is written. */
export type RawKey = { id: string; key: RdKey; synthesized: boolean };

/**
 * Stores raw messages as `rd.msg.rfc822` items (bytes as the attachment `rfc822`,
 * never a JSON field), deduplicated by key: a message already stored is a duplicate and
 * is not written again. Validated like every write; written in bulk.
 */
export async function storeRawMessages(registry: SchemaRegistry, db: Db, messages: readonly RawMessage[]): Promise<StoredRaw[]> {
  return (await storeRawWithItems(registry, db, messages, () => [])).results;
}

export interface StoredRawWithItems {
  results: StoredRaw[];
  /** Item documents written (first attempt and conflict retries). */
  itemsWritten: number;
  /** Documents in the combined `_bulk_docs` (raw + items). */
  docs: number;
}

/**
 * Raw messages and item updates that belong with them (e.g. where each message lives and
 * its flags, computed from its key) in one read (`_all_docs?keys`) and one `_bulk_docs`:
 * raw documents first in the request, item documents after. `extra` updates join the
 * same request (e.g. the state of a batch whose raw items were already written: what
 * must follow raw items may ride with later ones). Items that conflict (another process
 * wrote them meanwhile) are re-read and retried on their own.
 *
 * Item updates of a message whose raw write fails are in the same request and may be
 * written: the caller must not record the batch as done (it re-fetches it), so nothing
 * is lost; raw writes failing other than by conflict throw.
 */
export async function storeRawWithItems(
  registry: SchemaRegistry,
  db: Db,
  messages: readonly RawMessage[],
  updatesFor: (keys: ReadonlyArray<RawKey | undefined>) => ItemUpdate[],
  extra: readonly ItemUpdate[] = [],
): Promise<StoredRawWithItems> {
  const results: StoredRaw[] = new Array(messages.length);
  const keys: Array<RawKey | undefined> = new Array(messages.length);
  const planned: Array<{ index: number; id: string; key: RdKey; synthesized: boolean; message: RawMessage }> = [];
  const seen = new Set<string>();
  messages.forEach((message, index) => {
    const key = messageKey(message.bytes);
    if (!key.ok) {
      results[index] = { outcome: 'refused', reason: key.reason };
      return;
    }
    const id = docIdFor(key.key, rawSchemaId);
    keys[index] = { id, key: key.key, synthesized: key.synthesized };
    if (seen.has(id)) {
      results[index] = { outcome: 'duplicate', id, key: key.key, synthesized: key.synthesized };
      return;
    }
    seen.add(id);
    planned.push({ index, id, key: key.key, synthesized: key.synthesized, message });
  });
  const T=(globalThis as any).__prof ??= {}; let t=performance.now(); const lap=(n:string)=>{const x=performance.now(); T[n]=(T[n]??0)+x-t; t=x;};
  const updates = updatesFor(keys);
  lap('keys');
  // Read the raw documents and the `extra` ones (usually present); the item documents of
  // a message only when its raw item exists. A new message's items are almost never
  // there: they are written without a read, and the rare conflict is re-read and merged.
  // (Reading ids that do not exist is what costs most on the embedded server.)
  const existing = await bulkGet(db, [...planned.map((p) => p.id), ...extra.map((u) => docIdFor(u.key, u.schemaId))]);
  const knownIds = new Set<string>();
  keys.forEach((k) => {
    if (k && existing.has(k.id)) knownIds.add(k.key[1] as string);
  });
  if (knownIds.size > 0) {
    const more = await bulkGet(db, updates.filter((u) => knownIds.has(u.key[1] as string)).map((u) => docIdFor(u.key, u.schemaId)));
    for (const [id, doc] of more) existing.set(id, doc);
  }
  updates.push(...extra);
  lap('read');
  const repair: typeof planned = [];
  const fresh = planned.filter((p) => {
    const stored = existing.get(p.id);
    if (!stored) return true;
    // A crash between the document and its large-attachment upload leaves it without
    // bytes: write it again through the item writer, which uploads what is missing.
    const attachment = stored._attachments?.[`${rawWriter}/${rawAttachment}`];
    if (attachment?.length === undefined || attachment.length !== stored.size) repair.push(p);
    else results[p.index] = { outcome: 'duplicate', id: p.id, key: p.key, synthesized: p.synthesized };
    return false;
  });
  for (const p of repair) {
    await writeSchemaItem(db, { key: p.key, schemaId: rawSchemaId, writer: rawWriter, category: 'provider', source: null, fields: topLevelFields(existing.get(p.id) as CouchDoc), attachments: { [rawAttachment]: { contentType: 'message/rfc822', data: p.message.bytes } } });
    results[p.index] = { outcome: 'stored', id: p.id, key: p.key, synthesized: p.synthesized };
  }
  const checks = await registry.checkMany(fresh.map((p) => ({
    key: p.key,
    schemaId: rawSchemaId,
    writer: rawWriter,
    fields: { size: p.message.bytes.byteLength, sha256: sha256Hex(p.message.bytes), received_from: p.message.receivedFrom, ...(p.synthesized ? { message_id_synthesized: true } : {}) },
  })));
  const docs: CouchDoc[] = [];
  const uploads = new Map<string, PendingUpload[]>();
  fresh.forEach((p, i) => {
    const check = checks[i];
    if (!check?.ok) throw new RaindropError(errorCodes.VALIDATION_FAILED, check?.message ?? 'raw message check failed');
    const merged = applyItem(undefined, {
      key: p.key,
      schemaId: rawSchemaId,
      schemaVersion: check.version,
      writer: rawWriter,
      category: 'provider',
      source: null,
      fields: check.fields,
      attachments: { [rawAttachment]: { contentType: 'message/rfc822', data: p.message.bytes } },
    });
    docs.push(merged.doc);
    if (merged.uploads.length > 0) uploads.set(p.id, merged.uploads);
  });
  lap('rawplan');
  const items = await planItemUpdates(registry, existing, updates);
  lap('itemplan');
  const written = await writeAll(db, [...docs, ...items.docs]);
  lap('write');
  const rawWritten = written.slice(0, docs.length);
  rawWritten.forEach((w, i) => {
    const p = fresh[i] as (typeof fresh)[number];
    // A 409: another fetcher stored it meanwhile; the message is there, once.
    results[p.index] = { outcome: w.ok ? 'stored' : 'duplicate', id: p.id, key: p.key, synthesized: p.synthesized };
    if (!w.ok && !w.conflict) throw new RaindropError(errorCodes.COUCH_HTTP, `storing ${p.id} failed: ${w.error}: ${w.reason}`);
  });
  let itemsWritten = 0;
  const retry: ItemUpdate[] = [];
  for (const w of written.slice(docs.length)) {
    if (w.ok) itemsWritten++;
    else if (w.conflict) retry.push(...(items.byDoc.get(w.id) ?? []));
    else throw new RaindropError(errorCodes.COUCH_HTTP, `writing ${w.id} failed: ${w.error}: ${w.reason}`);
  }
  for (const w of rawWritten) {
    if (!w.ok) continue;
    let rev = w.rev;
    for (const upload of uploads.get(w.id) ?? []) {
      const res = (await callCouch(db.couch, `uploading message ${w.id}`, () =>
        db.scope.attachment.insert(w.id, upload.name, Buffer.from(upload.data), upload.contentType, { rev }),
      )) as unknown;
      rev = ((typeof res === 'string' ? JSON.parse(res) : res) as { rev: string }).rev;
    }
  }
  lap('uploads');
  if (retry.length > 0) itemsWritten += await updateItems(registry, db, retry);
  return { results, itemsWritten, docs: docs.length + items.docs.length };
}

/**
 * One `_bulk_docs` for everything when it is a reasonable request (the raw batch is
 * bounded by imapLimits.batchBytes and the item documents are small), else chunks in
 * order. Results in input order.
 */
async function writeAll(db: Db, docs: readonly CouchDoc[]): Promise<WriteResult[]> {
  if (docs.length === 0) return [];
  if (docs.length > combinedMaxDocs) return bulkWrite(db, docs);
  const rows = (await callCouch(db.couch, `writing ${docs.length} documents to "${db.name}"`, () =>
    db.couch.server.request({ db: db.name, method: 'POST', path: '_bulk_docs', body: { docs } }),
  )) as Array<{ id: string; rev?: string; error?: string; reason?: string }>;
  return docs.map((doc, i) => {
    const row = rows[i];
    if (!row) return { id: doc._id, ok: false, conflict: false, error: 'missing_result', reason: 'the server returned no result for this document' };
    if (row.error === 'conflict') return { id: doc._id, ok: false, conflict: true };
    if (row.error) return { id: doc._id, ok: false, conflict: false, error: row.error, reason: row.reason ?? '' };
    return { id: doc._id, ok: true, rev: row.rev ?? '' };
  });
}

/** Documents per combined request: a batch of imapLimits.batchMessages messages with a
 * location and one or two flag documents each, plus folder state. */
const combinedMaxDocs = 2000;
