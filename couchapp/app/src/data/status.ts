/**
 * The status screen: sync state per account (`_all_docs` range), each extension's lag
 * behind the changes feed (its checkpoint, then `_changes` since it), error counts and
 * the error records (two queries of `rd_queue/errors_by_extension`), and the admin's
 * "retry" (an `rd.core.retry-request` the running queue acts on).
 */
import type { Database } from './couch.js';
import type { RdKey } from './ids.js';


export interface AccountStatus { account: string; result: string; finishedAt: string | null; error: string | null }
export interface ExtensionLag { ext: string; lag: number; atLeast: boolean; state: string }
export interface ErrorRecord { id: string; ext: string; kind: string; message: string; source: string }

export interface Status {
  accounts: AccountStatus[];
  extensions: ExtensionLag[];
  counts: Array<{ ext: string; count: number }>;
  records: ErrorRecord[];
  /** More records exist than are listed. */
  moreRecords: boolean;
}

/** Error records listed on the screen; the counts cover all of them. */
export const recordsShown = 100;
/** Changes counted per lag on the embedded server (CouchDB answers `pending` itself). */
const lagCountCap = 1000;

const checkpointSchema = 'rd.core.workqueue-state';
const extensionSchema = 'rd.ext.workqueue';
/** Changes that are the queue's own bookkeeping, not work, as `raindrop status` counts
 * (src/queue/provenance.ts isBookkeeping: `rb!`, and the `rp!`/`rdep!` of databases written
 * before bookkeeping was one document per key). */
const bookkeeping = (id: string) => id.startsWith('rb!') || id.startsWith('rp!') || id.startsWith('rdep!') || id.startsWith('_design/') || id.endsWith(`!${checkpointSchema}`);

export async function loadStatus(db: Database): Promise<Status> {
  const [accounts, extIds, counts, records] = await Promise.all([
    db.byKeyType('account'),
    db.idsOfKeyType('ext'),
    db.view<number>('rd_queue', 'errors_by_extension', { group: true }),
    db.view<null>('rd_queue', 'errors_by_extension', { reduce: false, include_docs: true, limit: recordsShown + 1 }),
  ]);
  const installed = extIds.filter((id) => id.endsWith(`!${extensionSchema}`));
  const docs = await db.docs([...installed, ...installed.map((id) => id.replace(new RegExp(`!${extensionSchema}$`), `!${checkpointSchema}`))]);
  const lagBySeq = new Map<string, Promise<{ lag: number; atLeast: boolean }>>();
  const lagSince = (seq: string | number) => {
    const key = JSON.stringify(seq);
    let p = lagBySeq.get(key);
    if (!p) {
      p = db.changesAfter(seq, lagCountCap).then(({ ids, pending }) => ({ lag: ids.filter((id) => !bookkeeping(id)).length + (pending ?? 0), atLeast: pending === undefined && ids.length >= lagCountCap }));
      lagBySeq.set(key, p);
    }
    return p;
  };
  const extensions = await Promise.all(installed.flatMap((id) => {
    const ext = docs.get(id);
    if (!ext) return [];
    const cp = docs.get(id.replace(new RegExp(`!${extensionSchema}$`), `!${checkpointSchema}`));
    const name = String(ext.id ?? id);
    if (ext.enabled === false) return [Promise.resolve({ ext: name, lag: 0, atLeast: false, state: 'disabled' })];
    const seq = cp?.seq;
    if (!cp || (typeof seq !== 'string' && typeof seq !== 'number')) return [Promise.resolve({ ext: name, lag: 0, atLeast: false, state: 'never run' })];
    const state = cp.code_hash !== ext.code_hash ? 'code changed: will replay' : cp.lane === 'backlog' ? 'replaying' : 'incoming';
    return [lagSince(seq).then((l) => ({ ext: name, ...l, state }))];
  }));
  return {
    accounts: accounts.filter((d) => d.rd_schema_id === 'rd.core.sync-status').map((d) => ({
      account: String(d.account ?? ''), result: String(d.result ?? ''), finishedAt: typeof d.finished_at === 'string' ? d.finished_at : null,
      error: d.error && typeof d.error === 'object' ? String((d.error as { message?: unknown }).message ?? '') : null,
    })),
    extensions: extensions.sort((a, b) => (a.ext < b.ext ? -1 : 1)),
    counts: counts.rows.map((r) => ({ ext: String(r.key), count: Number(r.value) })),
    records: records.rows.slice(0, recordsShown).flatMap((r) => {
      const item = r.doc?.rd_schema_items?.[String(r.key)];
      const fields = (item?.fields ?? r.doc ?? {}) as Record<string, unknown>;
      return r.doc ? [{ id: r.doc._id, ext: String(r.key), kind: String(fields.kind ?? ''), message: String(fields.message ?? ''), source: String(fields.source_id ?? '') }] : [];
    }),
    moreRecords: records.rows.length > recordsShown,
  };
}

/** The admin asks the running queue to run `extension` again on what it failed on. A
 * member is refused (403) by the database: retrying runs code. */
export async function requestRetry(db: Database, extension: string): Promise<void> {
  const key: RdKey = ['ext', extension];
  await db.markItems([key], 'rd.core.retry-request', { requested_at: new Date().toISOString() });
}
