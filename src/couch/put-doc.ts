import type { Db } from './connect.js';
import { toCouchError } from './couch-error.js';

/** The outcome of writing one document with its `_rev`. `quorum` is false when a
 * cluster accepted the write on fewer copies than its write quorum (HTTP 202): the write
 * may still lose to another one made on other copies meanwhile. */
export type PutResult = { ok: true; rev: string; quorum: boolean } | { ok: false; conflict: true };

/**
 * Writes one document guarded by its `_rev` (a plain PUT, not `_bulk_docs`, for the
 * status code: 201 vs 202 tells whether the cluster's write quorum was met). A 409 is a
 * value; any other failure throws.
 */
export async function putDoc<T extends { _id: string }>(db: Db, doc: T): Promise<PutResult> {
  const url = `${db.couch.url}/${encodeURIComponent(db.name)}/${encodeURIComponent(doc._id)}`;
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' };
  if (db.couch.authorization) headers.authorization = db.couch.authorization;
  let response: Response;
  try {
    response = await fetch(url, { method: 'PUT', headers, body: JSON.stringify(doc), redirect: 'error' });
  } catch (err) {
    throw toCouchError(err, `writing ${doc._id}`, db.couch.url, db.couch.secrets);
  }
  const body = (await response.json().catch(() => ({}))) as { rev?: string; error?: string; reason?: string };
  if (response.status === 409) return { ok: false, conflict: true };
  if (response.status >= 200 && response.status < 300 && typeof body.rev === 'string') return { ok: true, rev: body.rev, quorum: response.status !== 202 };
  throw toCouchError({ statusCode: response.status, error: body.error, reason: body.reason ?? `HTTP ${response.status}` }, `writing ${doc._id}`, db.couch.url, db.couch.secrets);
}
