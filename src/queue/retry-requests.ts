import type { CouchDoc } from '../couch/documents.js';
import { BatchWriter } from './batch-writer.js';
import { retryErrors } from './maintenance.js';
import type { BatchStats, QueueContext } from './process-batch.js';

export const retryRequestSchemaId = 'rd.core.retry-request';
/** The writer the web app writes user items as (couchapp/app/src/data/user-state.ts). */
const requestWriter = 'user';

/**
 * Retry requests on the feed (`rd.core.retry-request`, keyed ["ext", id], written by the
 * web app's admin through the Couch API): the queue that sees one runs that extension
 * again on the documents it failed on, exactly as `raindrop retry-errors --ext ID`, then
 * removes the request. Only the admin can write one (validate_doc_update refuses it to a
 * member), so this runs nothing a member chose. A request for an extension this queue
 * does not run is left for a queue that does.
 */
export async function runRetryRequests(ctx: QueueContext, docs: readonly CouchDoc[]): Promise<BatchStats | undefined> {
  const requests = docs.filter((d) => d.rd_schema_id === retryRequestSchemaId && Array.isArray(d.rd_key) && typeof d.rd_key[1] === 'string');
  const handled: string[] = [];
  let total: BatchStats | undefined;
  for (const request of requests) {
    const extension = (request.rd_key as [string, string])[1];
    if (!ctx.ordered.some((e) => e.declaration.id === extension)) continue;
    const stats = await retryErrors(ctx, extension);
    ctx.logger.info(`retried the errors of ${extension} (asked in the web app): ${stats.ran} runs, ${stats.failed} still failing`);
    total = total ? { ran: total.ran + stats.ran, skipped: total.skipped + stats.skipped, failed: total.failed + stats.failed, written: total.written + stats.written } : stats;
    handled.push(request._id);
  }
  if (handled.length > 0) {
    const batch = new BatchWriter(ctx.db);
    await batch.load(handled);
    for (const id of handled) batch.removeItem(id, requestWriter);
    await batch.commit();
  }
  return total;
}
