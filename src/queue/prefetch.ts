import type { RdKey } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { readAttachment } from '../couch/read-attachment.js';
import { type WantedAttachment, readInlineAttachments } from '../couch/read-inline-attachments.js';
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
 * its isolate waits; fetched ahead they are answered from memory. They come inline in
 * a few `_all_docs` requests of at most `prefetchRequestBytes` each (one `GET` per
 * attachment was a tenth of the cascade's time on a 2,000-message import), a few
 * requests at a time. An attachment too big for one request is read on its own, and
 * past `prefetchBytes` per batch reads fall back to the server.
 */
export async function prefetchAttachments(db: Db, writer: BatchWriter, docs: readonly CouchDoc[]): Promise<void> {
  const groups: WantedAttachment[][] = [];
  const alone: Array<WantedAttachment & { rev: string | undefined }> = [];
  let group: WantedAttachment[] = [];
  let groupBytes = 0;
  let bytes = 0;
  collect: for (const doc of docs) {
    for (const [name, att] of Object.entries(doc._attachments ?? {})) {
      if (att.data !== undefined || writer.cachedAttachment(doc._id, name)) continue;
      const length = att.length ?? 0;
      bytes += length;
      if (bytes > queueLimits.prefetchBytes) break collect;
      const wanted = { id: doc._id, name, digest: att.digest, rev: doc._rev };
      if (length > queueLimits.prefetchRequestBytes) {
        alone.push(wanted);
        continue;
      }
      if (groupBytes + length > queueLimits.prefetchRequestBytes && group.length > 0) {
        groups.push(group);
        group = [];
        groupBytes = 0;
      }
      group.push(wanted);
      groupBytes += length;
    }
  }
  if (group.length > 0) groups.push(group);
  const jobs: Array<() => Promise<void>> = [
    ...groups.map((g) => async () => {
      for (const { id, name, bytes: b } of await readInlineAttachments(db, g)) writer.cacheAttachment(id, name, b);
    }),
    ...alone.map((w) => async () => {
      // At the batch's revision, as the inline reads check the digest.
      const b = await readAttachment(db, w.id, w.name, w.rev);
      if (b) writer.cacheAttachment(w.id, w.name, b);
    }),
  ];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await (jobs[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: Math.min(queueLimits.prefetchConcurrency, jobs.length) }, worker));
}
