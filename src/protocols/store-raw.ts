import { RaindropError, docIdFor, errorCodes, sha256Hex, type RdKey } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { bulkWrite } from '../couch/bulk-write.js';
import { callCouch, type Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { applyItem, topLevelFields, type PendingUpload } from '../couch/schema-items/merge.js';
import { writeSchemaItem } from '../couch/schema-items/write-schema-item.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { messageKey } from './message-key.js';

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

/**
 * Stores raw messages as `rd.msg.rfc822` items (bytes as the attachment `rfc822`,
 * never a JSON field), deduplicated by key: a message already stored is a duplicate and
 * is not written again. Validated like every write; written in bulk.
 */
export async function storeRawMessages(registry: SchemaRegistry, db: Db, messages: readonly RawMessage[]): Promise<StoredRaw[]> {
  const results: StoredRaw[] = new Array(messages.length);
  const planned: Array<{ index: number; id: string; key: RdKey; synthesized: boolean; message: RawMessage }> = [];
  const seen = new Set<string>();
  messages.forEach((message, index) => {
    const key = messageKey(message.bytes);
    if (!key.ok) {
      results[index] = { outcome: 'refused', reason: key.reason };
      return;
    }
    const id = docIdFor(key.key, rawSchemaId);
    if (seen.has(id)) {
      results[index] = { outcome: 'duplicate', id, key: key.key, synthesized: key.synthesized };
      return;
    }
    seen.add(id);
    planned.push({ index, id, key: key.key, synthesized: key.synthesized, message });
  });
  const existing = await bulkGet(db, planned.map((p) => p.id));
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
  const written = await bulkWrite(db, docs);
  written.forEach((w, i) => {
    const p = fresh[i] as (typeof fresh)[number];
    // A 409: another fetcher stored it meanwhile; the message is there, once.
    results[p.index] = { outcome: w.ok ? 'stored' : 'duplicate', id: p.id, key: p.key, synthesized: p.synthesized };
    if (!w.ok && !w.conflict) throw new RaindropError(errorCodes.COUCH_HTTP, `storing ${p.id} failed: ${w.error}: ${w.reason}`);
  });
  for (const w of written) {
    if (!w.ok) continue;
    let rev = w.rev;
    for (const upload of uploads.get(w.id) ?? []) {
      const res = (await callCouch(db.couch, `uploading message ${w.id}`, () =>
        db.scope.attachment.insert(w.id, upload.name, Buffer.from(upload.data), upload.contentType, { rev }),
      )) as unknown;
      rev = ((typeof res === 'string' ? JSON.parse(res) : res) as { rev: string }).rev;
    }
  }
  return results;
}
