import { type Db, callCouch } from './connect.js';
import type { CouchDoc } from './documents.js';
import { couchLimits } from './limits.js';

/** The outcome for one document of a bulk write. A conflict is an expected outcome that
 * the caller handles (re-read and merge), not an exception. */
export type WriteResult =
  | { id: string; ok: true; rev: string }
  | { id: string; ok: false; conflict: true }
  | { id: string; ok: false; conflict: false; error: string; reason: string };

interface BulkDocsRow {
  id: string;
  rev?: string;
  ok?: boolean;
  error?: string;
  reason?: string;
}

/**
 * Writes documents with `_bulk_docs`, in chunks, returning one result per document in
 * input order. Only a failure of a whole request throws.
 */
export async function bulkWrite(db: Db, docs: readonly CouchDoc[]): Promise<WriteResult[]> {
  const results: WriteResult[] = [];
  for (let i = 0; i < docs.length; i += couchLimits.bulkChunkSize) {
    const chunk = docs.slice(i, i + couchLimits.bulkChunkSize);
    const rows = (await callCouch(db.couch, `writing ${chunk.length} documents to "${db.name}"`, () =>
      db.couch.server.request({ db: db.name, method: 'POST', path: '_bulk_docs', body: { docs: chunk } }),
    )) as BulkDocsRow[];
    chunk.forEach((doc, index) => {
      const row = rows[index];
      results.push(toResult(doc._id, row));
    });
  }
  return results;
}

function toResult(id: string, row: BulkDocsRow | undefined): WriteResult {
  if (!row) return { id, ok: false, conflict: false, error: 'missing_result', reason: 'the server returned no result for this document' };
  if (row.error === 'conflict') return { id, ok: false, conflict: true };
  if (row.error) return { id, ok: false, conflict: false, error: row.error, reason: row.reason ?? '' };
  return { id, ok: true, rev: row.rev ?? '' };
}
