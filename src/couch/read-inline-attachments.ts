import { type Db, callCouch } from './connect.js';
import type { CouchDoc } from './documents.js';

/** An attachment wanted at the content the caller's copy of the document names. */
export interface WantedAttachment {
  id: string;
  name: string;
  /** The stub's digest: bytes of any other content are not returned. */
  digest: string | undefined;
}

/**
 * Reads the bytes of several documents' attachments in one request (`POST _all_docs`
 * with `keys`, `include_docs` and `attachments=true`: base64 inside the JSON). One
 * request instead of one `GET` per attachment: a batch of 500 raw messages was 500 round
 * trips. An attachment whose stored digest is not the wanted one (the document changed
 * since the caller read it) is left out, as are missing documents and attachments; the
 * caller reads those on its own if it needs them.
 */
export async function readInlineAttachments(db: Db, wanted: readonly WantedAttachment[]): Promise<Array<{ id: string; name: string; bytes: Buffer }>> {
  const keys = [...new Set(wanted.map((w) => w.id))];
  if (keys.length === 0) return [];
  const body = (await callCouch(db.couch, `reading the attachments of ${keys.length} documents from "${db.name}"`, () =>
    db.couch.server.request({ db: db.name, method: 'POST', path: '_all_docs', qs: { include_docs: true, attachments: true }, body: { keys } }),
  )) as { rows: Array<{ key: string; doc?: CouchDoc | null; value?: { deleted?: boolean } }> };
  const docs = new Map<string, CouchDoc>();
  for (const row of body.rows) if (row.doc && !row.value?.deleted) docs.set(row.key, row.doc);
  const found: Array<{ id: string; name: string; bytes: Buffer }> = [];
  for (const w of wanted) {
    const att = docs.get(w.id)?._attachments?.[w.name];
    if (!att || typeof att.data !== 'string' || (w.digest !== undefined && att.digest !== w.digest)) continue;
    found.push({ id: w.id, name: w.name, bytes: Buffer.from(att.data, 'base64') });
  }
  return found;
}
