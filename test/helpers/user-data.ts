import type { Db } from '../../src/couch/connect.js';
import type { CouchDoc } from '../../src/couch/documents.js';

/** Documents a user or a front end reads: everything but the queue's and the cluster's
 * bookkeeping, revisions and checkpoints. The source hash of a later_handler's outputs
 * (`rd!later`: the hash of the values one batch collected) and the content hash that
 * covers it depend on how the feed was cut into batches: they are left out, and nothing
 * else is. */
export async function userData(db: Db): Promise<Record<string, Record<string, unknown>>> {
  const all = (await db.scope.list({ include_docs: true })) as unknown as { rows: Array<{ id: string; doc: CouchDoc }> };
  const out: Record<string, Record<string, unknown>> = {};
  for (const { id, doc } of all.rows) {
    if (/^(?:_design\/|rb!|rk!)/.test(id) || doc.rd_schema_id === 'rd.core.workqueue-state' || doc.rd_schema_id === 'rd.ext.workqueue') continue;
    const { _rev, _attachments, ...rest } = JSON.parse(JSON.stringify(doc)) as CouchDoc;
    for (const item of Object.values((rest.rd_schema_items ?? {}) as Record<string, { rd_source?: { id?: string; hash?: string }; content_hash?: string }>)) {
      if (item.rd_source?.id === 'rd!later') {
        delete item.rd_source.hash;
        delete item.content_hash;
      }
    }
    out[id] = { ...rest, ...(_attachments ? { _attachments: Object.keys(_attachments).sort() } : {}) };
  }
  return out;
}

/** Ids of the documents that differ between two `userData` snapshots. */
export function differingIds(expected: Record<string, Record<string, unknown>>, got: Record<string, Record<string, unknown>>): string[] {
  const ids = [...new Set([...Object.keys(expected), ...Object.keys(got)])].sort();
  return ids.filter((k) => JSON.stringify(expected[k]) !== JSON.stringify(got[k]));
}
