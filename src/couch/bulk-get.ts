import { type Db, callCouch } from './connect.js';
import type { CouchDoc } from './documents.js';
import { couchLimits } from './limits.js';

interface AllDocsRow {
  id?: string;
  key: string;
  error?: string;
  value?: { rev: string; deleted?: boolean };
  doc?: CouchDoc | null;
}

/**
 * Reads documents by id (`POST _all_docs` with `keys`, `include_docs`), in chunks.
 * Missing and deleted documents are simply absent from the result.
 */
export async function bulkGet(db: Db, ids: readonly string[]): Promise<Map<string, CouchDoc>> {
  const found = new Map<string, CouchDoc>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += couchLimits.bulkChunkSize) {
    const keys = unique.slice(i, i + couchLimits.bulkChunkSize);
    const body = (await callCouch(db.couch, `reading ${keys.length} documents from "${db.name}"`, () =>
      db.couch.server.request({
        db: db.name,
        method: 'POST',
        path: '_all_docs',
        qs: { include_docs: true },
        body: { keys },
      }),
    )) as { rows: AllDocsRow[] };
    for (const row of body.rows) {
      if (row.doc && !row.value?.deleted) found.set(row.key, row.doc);
    }
  }
  return found;
}

/** The current revision of a document without its body (`_all_docs` by key), or
 * undefined when it does not exist or is deleted: for a rewrite of a large document
 * whose old content is not needed. */
export async function currentRev(db: Db, id: string): Promise<string | undefined> {
  const body = (await callCouch(db.couch, `reading the revision of ${id} in "${db.name}"`, () =>
    db.couch.server.request({ db: db.name, method: 'POST', path: '_all_docs', body: { keys: [id] } }),
  )) as { rows: AllDocsRow[] };
  const value = body.rows[0]?.value;
  return value && !value.deleted ? value.rev : undefined;
}

/** Reads one document, or undefined when it does not exist. */
export async function getDoc(db: Db, id: string): Promise<CouchDoc | undefined> {
  return (await bulkGet(db, [id])).get(id);
}
