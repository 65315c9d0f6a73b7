import type { CouchDoc } from './documents.js';
import { type Db, callCouch } from './connect.js';

/** Rows per request when listing by prefix. */
const pageSize = 1000;

/**
 * Every document of one schema among the items of one key type, read through
 * `_all_docs` by id prefix (`rc!<type>.`): the primary index is always current, so this
 * costs no view build, which matters at start-up right after a big import. Meant for
 * key types with few items (schemas, extensions), not for mail.
 */
export async function listByKeyType(db: Db, keyType: string, schemaId: string): Promise<CouchDoc[]> {
  const out: CouchDoc[] = [];
  let startkey = `rc!${keyType}.`;
  const endkey = `rc!${keyType}.\ufff0`;
  for (let skip = 0; ; skip = 1) {
    const page = (await callCouch(db.couch, `listing ${schemaId} documents`, () =>
      db.couch.server.request({ db: db.name, path: '_all_docs', qs: { startkey, endkey, include_docs: true, limit: pageSize, skip } }),
    )) as { rows: Array<{ id: string; doc?: CouchDoc | null }> };
    for (const row of page.rows) if (row.doc && row.doc.rd_schema_id === schemaId) out.push(row.doc);
    const last = page.rows.at(-1);
    if (page.rows.length < pageSize || !last) return out;
    startkey = last.id;
  }
}
