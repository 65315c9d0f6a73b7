import type { RdKey } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { readAttachment } from '../couch/read-attachment.js';
import type { BatchWriter } from './batch-writer.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { queueLimits } from './limits.js';

/**
 * What an extension may open at its sources' own keys: every schema of its `reads` whose
 * key types include the source key's type (its own previous output, the message's user
 * state). Opened from inside the isolate, each was a host round trip and an HTTP request
 * per message: on openwrt-devel, 1,000 messages made 3,360 such requests, a third of the
 * cascade's time. Handed to the pool as `preload`, they are read in one request per
 * extension and batch and answered inside the pool process. What an open returns does
 * not change: the same batch state, read a moment earlier (it does not change while the
 * extension runs).
 */
export function readsAtSourceKeys(registry: SchemaRegistry, reads: readonly string[], docs: readonly CouchDoc[]): Array<{ key: RdKey; schemaId: string }> {
  const keyTypes = reads.map((schemaId) => [schemaId, registry.get(schemaId)?.definition.key_types ?? []] as const);
  const requests: Array<{ key: RdKey; schemaId: string }> = [];
  for (const doc of docs) {
    const key = doc.rd_key as RdKey | undefined;
    if (!Array.isArray(key) || typeof key[0] !== 'string') continue;
    for (const [schemaId, types] of keyTypes) if (types.includes(key[0])) requests.push({ key, schemaId });
  }
  return requests;
}

/**
 * Fetches the attachments of a batch's source documents before the extension runs. An
 * extension reads them synchronously (`rd.attachment`), one request per document while
 * its isolate waits; fetched ahead, several at a time, they are answered from memory.
 * Bounded by bytes per batch: past the bound, reads fall back to the server.
 */
export async function prefetchAttachments(db: Db, writer: BatchWriter, docs: readonly CouchDoc[]): Promise<void> {
  const wanted: Array<{ id: string; name: string }> = [];
  let bytes = 0;
  for (const doc of docs) {
    for (const [name, att] of Object.entries(doc._attachments ?? {})) {
      if (att.data !== undefined || writer.cachedAttachment(doc._id, name)) continue;
      bytes += att.length ?? 0;
      if (bytes > queueLimits.prefetchBytes) return fetchAll(db, writer, wanted);
      wanted.push({ id: doc._id, name });
    }
  }
  return fetchAll(db, writer, wanted);
}

async function fetchAll(db: Db, writer: BatchWriter, wanted: Array<{ id: string; name: string }>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < wanted.length) {
      const item = wanted[next++] as { id: string; name: string };
      const bytes = await readAttachment(db, item.id, item.name);
      if (bytes) writer.cacheAttachment(item.id, item.name, bytes);
    }
  };
  await Promise.all(Array.from({ length: Math.min(queueLimits.prefetchConcurrency, wanted.length) }, worker));
}
