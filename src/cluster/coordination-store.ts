import type { Db } from '../couch/connect.js';
import { fetchJson } from '../couch/fetch-json.js';
import { toCouchError } from '../couch/couch-error.js';

/** Every document whose id starts with `prefix` (workers, leases, checkpoints: a few
 * dozen at most), read by id range: no view, so it costs the same on a fresh database. */
export async function listByPrefix<T>(db: Db, prefix: string): Promise<T[]> {
  try {
    const body = (await fetchJson(db.couch, {
      path: `${encodeURIComponent(db.name)}/_all_docs`,
      qs: { startkey: JSON.stringify(prefix), endkey: JSON.stringify(`${prefix}\ufff0`), include_docs: true },
    })) as { rows: Array<{ doc?: T | null }> };
    return body.rows.flatMap((r) => (r.doc ? [r.doc] : []));
  } catch (err) {
    throw toCouchError(err, `reading ${prefix} documents`, db.couch.url, db.couch.secrets);
  }
}
