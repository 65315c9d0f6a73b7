import { bulkGet } from '../couch/bulk-get.js';
import { changesPending } from '../couch/changes-pending.js';
import type { Db } from '../couch/connect.js';
import { countBySchema } from '../couch/count-by-schema.js';
import { checkpointSchemaId, readCheckpoints } from '../queue/checkpoints.js';
import { errorSchemaId } from '../queue/process-batch.js';
import { isBookkeeping } from '../queue/provenance.js';
import { installedExtensions } from './install-extensions.js';

export interface ExtensionStatus {
  id: string;
  /** "built-in", or the directory it was installed from. */
  source: string;
  file: string;
  enabled: boolean;
  state: 'never run' | 'code changed: will replay' | 'replaying' | 'incoming' | 'disabled';
  /** Changes on the feed after its checkpoint. */
  lag: number;
  lagAtLeast: boolean;
  errors: number;
  source_schemas: string[];
  emits: string[];
  category: string;
  code_hash: string;
}

/** Error records per extension, from the error documents' ids (no view: see countBySchema). */
export async function errorCounts(db: Db, errorIds?: readonly string[]): Promise<Map<string, number>> {
  const ids = errorIds ?? (await countBySchema(db, [errorSchemaId])).collected[errorSchemaId] ?? [];
  const counts = new Map<string, number>();
  for (const doc of (await bulkGet(db, ids)).values()) {
    for (const writer of Object.keys((doc.rd_schema_items ?? {}) as object)) counts.set(writer, (counts.get(writer) ?? 0) + 1);
  }
  return counts;
}

/** Per installed extension: where it comes from, queue state, lag behind the feed, errors.
 * Reads documents by id and the changes feed only, never a view, so it answers at once
 * after a big import. */
export async function extensionStatus(db: Db, errorIds?: readonly string[]): Promise<ExtensionStatus[]> {
  const docs = (await installedExtensions(db)).sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
  const checkpoints = await readCheckpoints(db, docs.map((d) => String(d.id)));
  const errors = await errorCounts(db, errorIds);
  // Extensions at one checkpoint share the count (the incoming lane usually holds them all).
  const lagBySeq = new Map<string, Promise<{ count: number; atLeast: boolean }>>();
  const lagSince = (seq: unknown) => {
    const key = JSON.stringify(seq ?? null);
    let pending = lagBySeq.get(key);
    if (!pending) {
      pending = changesPending(db, seq as Parameters<typeof changesPending>[1], (changed) => isBookkeeping(changed) || changed.endsWith(`!${checkpointSchemaId}`));
      lagBySeq.set(key, pending);
    }
    return pending;
  };
  return Promise.all(docs.map(async (doc) => {
    const id = String(doc.id);
    const cp = checkpoints.get(id);
    const current = cp !== undefined && cp.code_hash === doc.code_hash;
    const pending = await lagSince(current ? cp.seq : undefined);
    const enabled = doc.enabled !== false;
    return {
      id,
      source: typeof doc.directory === 'string' ? doc.directory : 'built-in',
      file: String(doc.file ?? ''),
      enabled,
      state: !enabled ? 'disabled' : !cp ? 'never run' : !current ? 'code changed: will replay' : cp.lane === 'backlog' ? 'replaying' : 'incoming',
      lag: pending.count,
      lagAtLeast: pending.atLeast,
      errors: errors.get(id) ?? 0,
      source_schemas: (doc.source_schemas as string[]) ?? [],
      emits: (doc.emits as string[]) ?? [],
      category: String(doc.category),
      code_hash: String(doc.code_hash),
    } satisfies ExtensionStatus;
  }));
}
