import { callCouch, type Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { bulkGet } from '../couch/bulk-get.js';
import { countBySchema } from '../couch/count-by-schema.js';
import { removeCheckpoints } from './checkpoints.js';
import type { QueueExtension } from './extension-set.js';
import { queueLimits } from './limits.js';
import { type BatchStats, type QueueContext, errorSchemaId, processBatch } from './process-batch.js';
import { removeExtensionOutputs, removeLaterOutputs } from './stale-outputs.js';

/** Sources an extension has processed (from provenance), for unprocess. */
async function processedSources(db: Db, extension: string): Promise<string[]> {
  const rows = (await callCouch(db.couch, `listing sources of ${extension}`, () =>
    db.scope.view('rd_queue', 'provenance_by_extension', { startkey: [extension], endkey: [extension, {}] }),
  )) as unknown as { rows: Array<{ value: string }> };
  return [...new Set(rows.rows.map((r) => r.value))];
}

/** Removes everything the extensions derived (outputs, errors, provenance) and their
 * checkpoints; raw items stay. The next `process` derives it all again. */
export async function unprocess(ctx: Pick<QueueContext, 'db'>, extensions: readonly string[]): Promise<{ removed: number }> {
  let removed = 0;
  // Downstream first, so nothing re-derives from an output that is about to go.
  for (const ext of [...extensions].reverse()) {
    removed += await removeExtensionOutputs(ctx, ext, await processedSources(ctx.db, ext));
    removed += await removeLaterOutputs(ctx, ext);
  }
  await removeCheckpoints(ctx.db, extensions);
  return { removed };
}

/** Runs extensions again on sources, whatever their provenance says. */
export async function reprocess(ctx: QueueContext, extensions: readonly QueueExtension[], filter: (doc: CouchDoc) => boolean = () => true): Promise<BatchStats> {
  const total: BatchStats = { ran: 0, skipped: 0, failed: 0, written: 0 };
  for (const ext of extensions) {
    for (const schema of ext.declaration.source_schemas) {
      const rows = (await callCouch(ctx.db.couch, `listing ${schema} documents`, () =>
        ctx.db.scope.view('rd_core', 'by_schema', { key: schema, reduce: false, include_docs: true }),
      )) as unknown as { rows: Array<{ doc?: CouchDoc }> };
      const docs = rows.rows.map((r) => r.doc).filter((d): d is CouchDoc => d !== undefined && filter(d));
      for (let i = 0; i < docs.length; i += queueLimits.batchSize) {
        const chunk = docs.slice(i, i + queueLimits.batchSize);
        const stats = await processBatch(ctx, { docs: chunk, deleted: [] }, { feedExtensions: new Set([ext.declaration.id]), force: new Set(chunk.map((d) => `${ext.declaration.id}|${d._id}`)) });
        add(total, stats);
      }
    }
  }
  return total;
}

export interface ErrorRecord {
  id: string;
  extension: string;
  kind: string;
  message: string;
  source_id: string;
}

/** Every recorded failure, one per (source, extension). */
export async function listErrors(db: Db, extension?: string): Promise<ErrorRecord[]> {
  // By id, not through the by_schema view: right after a big import that view would
  // first have to index every document.
  const ids = (await countBySchema(db, [errorSchemaId])).collected[errorSchemaId] ?? [];
  const out: ErrorRecord[] = [];
  for (const doc of (await bulkGet(db, ids)).values()) {
    const items = doc.rd_schema_items as Record<string, { fields?: Record<string, unknown> }>;
    const writers = Object.keys(items);
    for (const writer of writers) {
      const fields = (items[writer]?.fields ?? (writers.length === 1 ? doc : {})) as Record<string, unknown>;
      if (extension && writer !== extension) continue;
      out.push({ id: doc._id, extension: writer, kind: String(fields.kind), message: String(fields.message), source_id: String(fields.source_id) });
    }
  }
  return out;
}

/** Runs the failed (source, extension) pairs again. */
export async function retryErrors(ctx: QueueContext, extension?: string): Promise<BatchStats> {
  const errors = (await listErrors(ctx.db, extension)).filter((e) => ctx.ordered.some((x) => x.declaration.id === e.extension));
  const total: BatchStats = { ran: 0, skipped: 0, failed: 0, written: 0 };
  if (errors.length === 0) return total;
  const sources = await bulkGet(ctx.db, errors.map((e) => e.source_id));
  for (let i = 0; i < errors.length; i += queueLimits.batchSize) {
    const chunk = errors.slice(i, i + queueLimits.batchSize);
    const docs = chunk.map((e) => sources.get(e.source_id)).filter((d): d is CouchDoc => d !== undefined);
    add(total, await processBatch(ctx, { docs, deleted: [] }, { feedExtensions: new Set(chunk.map((e) => e.extension)), force: new Set(chunk.map((e) => `${e.extension}|${e.source_id}`)) }));
  }
  return total;
}

function add(total: BatchStats, stats: BatchStats): void {
  total.ran += stats.ran;
  total.skipped += stats.skipped;
  total.failed += stats.failed;
  total.written += stats.written;
}
