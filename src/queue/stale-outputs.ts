import { callCouch } from '../couch/connect.js';
import { BatchWriter } from './batch-writer.js';
import type { QueueExtension } from './extension-set.js';
import type { QueueContext } from './process-batch.js';
import { bookkeepingId } from './provenance.js';

/**
 * After a replay of an extension's new code, every source it still applies to carries
 * the new code hash in its provenance. Entries still at an older hash belong to sources
 * the new code no longer visits: their outputs are removed. `ofSource` narrows it to
 * the sources one worker's partition replayed (src/cluster).
 */
export async function removeUnvisitedOutputs(ctx: Pick<QueueContext, 'db'>, ext: QueueExtension, ofSource: (id: string) => boolean = () => true): Promise<number> {
  const id = ext.declaration.id;
  const rows = (await callCouch(ctx.db.couch, `finding stale outputs of ${id}`, () =>
    ctx.db.scope.view('rd_queue', 'provenance_by_extension', { startkey: [id], endkey: [id, {}] }),
  )) as unknown as { rows: Array<{ key: [string, string]; value: string }> };
  const stale = rows.rows.filter((r) => r.key[1] !== ext.codeHash && ofSource(r.value)).map((r) => r.value);
  if (stale.length === 0) return 0;
  return removeExtensionOutputs(ctx, id, stale);
}

/** Removes an extension's outputs, errors and provenance for these sources. */
export async function removeExtensionOutputs(ctx: Pick<QueueContext, 'db'>, extension: string, sources: readonly string[]): Promise<number> {
  const writer = new BatchWriter(ctx.db);
  await writer.load(sources.map(bookkeepingId));
  const entries = sources.map((s) => [s, writer.provenance(s)?.extensions[extension]] as const);
  await writer.load(entries.flatMap(([, e]) => [...(e?.outputs ?? []), ...(e?.error ? [e.error] : [])]));
  for (const [source, entry] of entries) {
    if (!entry) continue;
    for (const out of entry.outputs) writer.removeItem(out, extension);
    if (entry.error) writer.removeItem(entry.error, extension);
    writer.setProvenance(source, extension, null);
  }
  return (await writer.commit()).written;
}

/** Removes what an extension's later_handler wrote (indexes, counters): it belongs to no
 * single source, so only `unprocess` takes it, and the next `process` rebuilds it. */
export async function removeLaterOutputs(ctx: Pick<QueueContext, 'db'>, extension: string): Promise<number> {
  const rows = (await callCouch(ctx.db.couch, `finding later_handler outputs of ${extension}`, () =>
    ctx.db.scope.view('rd_queue', 'later_outputs', { key: extension }),
  )) as unknown as { rows: Array<{ id: string }> };
  if (rows.rows.length === 0) return 0;
  const writer = new BatchWriter(ctx.db);
  const ids = rows.rows.map((r) => r.id);
  await writer.load(ids);
  for (const id of ids) writer.removeItem(id, extension);
  return (await writer.commit()).written;
}
