import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { readAttachment } from '../couch/read-attachment.js';
import type { BatchWriter } from './batch-writer.js';
import { queueLimits } from './limits.js';

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
