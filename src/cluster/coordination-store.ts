import type { Db } from '../couch/connect.js';
import { fetchJson } from '../couch/fetch-json.js';
import { toCouchError } from '../couch/couch-error.js';
import { putDoc } from '../couch/put-doc.js';

/** Every document whose id starts with `prefix` (workers, leases, checkpoints: a few
 * dozen at most), read by id range: no view, so it costs the same on a fresh database.
 * With `conflicts`, each document carries `_conflicts` (its losing revisions) if any. */
export async function listByPrefix<T>(db: Db, prefix: string, options: { conflicts?: boolean } = {}): Promise<T[]> {
  try {
    const body = (await fetchJson(db.couch, {
      path: `${encodeURIComponent(db.name)}/_all_docs`,
      qs: { startkey: JSON.stringify(prefix), endkey: JSON.stringify(`${prefix}\ufff0`), include_docs: true, ...(options.conflicts ? { conflicts: true } : {}) },
    })) as { rows: Array<{ doc?: T | null }> };
    return body.rows.flatMap((r) => (r.doc ? [r.doc] : []));
  } catch (err) {
    throw toCouchError(err, `reading ${prefix} documents`, db.couch.url, db.couch.secrets);
  }
}

/**
 * Deletes the losing revisions of coordination documents. A cluster accepts two writes
 * of the same `_rev` made through different nodes (a renewal racing a takeover, a release
 * racing a renewal); once the nodes sync, one revision wins by CouchDB's deterministic
 * rule and the other stays as a conflict. Nothing reads a losing revision (every fence
 * reads the winner), so it is only clutter that grows the revision tree each time; it is
 * removed by whichever worker sees it first. A worker that still writes with a removed
 * revision gets a 409, the same as losing the lease. Returns how many were removed.
 */
export async function dropLosingRevisions(db: Db, docs: ReadonlyArray<{ _id: string; _conflicts?: string[] }>): Promise<number> {
  let removed = 0;
  for (const doc of docs) {
    for (const rev of doc._conflicts ?? []) {
      // A 409: another worker removed it first.
      if ((await putDoc(db, { _id: doc._id, _rev: rev, _deleted: true })).ok) removed++;
    }
  }
  return removed;
}
