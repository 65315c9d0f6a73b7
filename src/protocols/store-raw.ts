import { RaindropError, docIdFor, errorCodes, isRaindropError, sha256Hex, type RdKey } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { type WriteResult, bulkWrite } from '../couch/bulk-write.js';
import { callCouch, type Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { applyItem, topLevelFields, type PendingUpload } from '../couch/schema-items/merge.js';
import { writeSchemaItem } from '../couch/schema-items/write-schema-item.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { messageKey } from './message-key.js';
import { type ItemUpdate, idsOf, planItemUpdates, updateItems } from './write-items.js';

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
  /** Raw messages that were already stored (found by the read or by a 409). */
  duplicates: number;
}

export interface StoreRawWithItemsOptions {
  /** Item updates that join the same request (e.g. the state of a batch whose raw items
   * were already written: what must follow raw items may ride with later ones). */
  extra?: readonly ItemUpdate[];
  /** Read which raw items exist before writing (default). Without the read, every raw
   * document is written as new and a 409 says it existed: cheaper when duplicates are
   * rare (reading an id that does not exist is what costs most on the embedded server),
   * wasteful when most are duplicates (their bytes are sent for nothing). */
  readFirst?: boolean;
}

type Planned = { index: number; id: string; key: RdKey; synthesized: boolean; message: RawMessage };

/** True when a stored raw item lacks its bytes (a crash between the document and its
 * large-attachment upload): it must be written again. */
function needsRepair(stored: CouchDoc): boolean {
  const attachment = stored._attachments?.[`${rawWriter}/${rawAttachment}`];
  return attachment?.length === undefined || attachment.length !== stored.size;
}

async function repairRaw(db: Db, p: Planned, stored: CouchDoc): Promise<void> {
  await writeSchemaItem(db, { key: p.key, schemaId: rawSchemaId, writer: rawWriter, category: 'provider', source: null, fields: topLevelFields(stored), attachments: { [rawAttachment]: { contentType: 'message/rfc822', data: p.message.bytes } } });
}

/**
 * Raw messages and item updates that belong with them (where each message lives, its
 * flags: computed from its key) in one `_bulk_docs`, raw documents first in the request,
 * item documents after. Item documents are read only for messages already stored (a new
 * message's items are almost never there; the rare 409 is re-read and merged), so a
 * batch of new mail costs one small read (or none, see `readFirst`) and one write.
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
  options: StoreRawWithItemsOptions = {},
): Promise<StoredRawWithItems> {
  const extra = options.extra ?? [];
  const readFirst = options.readFirst ?? true;
  const results: StoredRaw[] = new Array(messages.length);
  const keys: Array<RawKey | undefined> = new Array(messages.length);
  const planned: Planned[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
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
      duplicates++;
      return;
    }
    seen.add(id);
    planned.push({ index, id, key: key.key, synthesized: key.synthesized, message });
  });
  const updates = updatesFor(keys);
  const existing = await bulkGet(db, [...(readFirst ? planned.map((p) => p.id) : []), ...extra.flatMap(idsOf)]);
  const known = new Set<unknown>();
  const fresh: Planned[] = [];
  for (const p of planned) {
    const stored = existing.get(p.id);
    if (!stored) {
      fresh.push(p);
      continue;
    }
    known.add(p.key[1]);
    if (needsRepair(stored)) {
      await repairRaw(db, p, stored);
      results[p.index] = { outcome: 'stored', id: p.id, key: p.key, synthesized: p.synthesized };
    } else {
      results[p.index] = { outcome: 'duplicate', id: p.id, key: p.key, synthesized: p.synthesized };
      duplicates++;
    }
  }
  if (known.size > 0) {
    const more = await bulkGet(db, updates.filter((u) => known.has(u.key[1])).flatMap(idsOf));
    for (const [id, doc] of more) existing.set(id, doc);
  }
  updates.push(...extra);
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
  const items = await planItemUpdates(registry, existing, updates);
  const written = await writeAll(db, [...docs, ...items.docs]);
  const rawWritten = written.slice(0, docs.length);
  const conflicted: Planned[] = [];
  rawWritten.forEach((w, i) => {
    const p = fresh[i] as Planned;
    if (!w.ok && !w.conflict) throw new RaindropError(errorCodes.COUCH_HTTP, `storing ${p.id} failed: ${w.error}: ${w.reason}`);
    // A 409: stored before (not read first) or by another fetcher meanwhile; the message
    // is there, once (its bytes are checked below).
    results[p.index] = { outcome: w.ok ? 'stored' : 'duplicate', id: p.id, key: p.key, synthesized: p.synthesized };
    if (!w.ok) {
      duplicates++;
      conflicted.push(p);
    }
  });
  let itemsWritten = 0;
  const retrySet = new Set<ItemUpdate>();
  for (const w of written.slice(docs.length)) {
    if (w.ok) itemsWritten++;
    else if (w.conflict) for (const u of items.byDoc.get(w.id) ?? []) retrySet.add(u);
    else throw new RaindropError(errorCodes.COUCH_HTTP, `writing ${w.id} failed: ${w.error}: ${w.reason}`);
  }
  const retry = updates.filter((u) => retrySet.has(u));
  for (const [i, w] of rawWritten.entries()) {
    if (!w.ok) continue;
    let rev = w.rev;
    for (const upload of uploads.get(w.id) ?? []) {
      try {
        const res = (await callCouch(db.couch, `uploading message ${w.id}`, () =>
          db.scope.attachment.insert(w.id, upload.name, Buffer.from(upload.data), upload.contentType, { rev }),
        )) as unknown;
        rev = ((typeof res === 'string' ? JSON.parse(res) : res) as { rev: string }).rev;
      } catch (err) {
        // The server will never take these bytes (the embedded server's attachment limit,
        // CouchDB's max_attachment_size): this message is refused with the server's words,
        // its bytes-less document removed, and the rest of the batch goes on.
        if (!isRaindropError(err) || err.status !== 413) throw err;
        const p = fresh[i] as Planned;
        await bulkWrite(db, [{ _id: w.id, _rev: rev, _deleted: true }]);
        results[p.index] = { outcome: 'refused', reason: `the server refused its ${p.message.bytes.byteLength} bytes: ${err.message}` };
        break;
      }
    }
  }
  if (conflicted.length > 0) {
    const stored = await bulkGet(db, conflicted.map((p) => p.id));
    for (const p of conflicted) {
      const doc = stored.get(p.id);
      if (doc && needsRepair(doc)) {
        await repairRaw(db, p, doc);
        results[p.index] = { outcome: 'stored', id: p.id, key: p.key, synthesized: p.synthesized };
        duplicates--;
      }
    }
  }
  if (retry.length > 0) itemsWritten += await updateItems(registry, db, retry);
  return { results, itemsWritten, duplicates };
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
