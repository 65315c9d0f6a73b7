import { bulkGet, currentRev } from '../couch/bulk-get.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { putDoc } from '../couch/put-doc.js';
import { itemSourceId } from '../couch/schema-items/merge.js';
import { BatchWriter } from './batch-writer.js';
import { bookkeepingId } from './provenance.js';

/**
 * A commit's intent: the outputs (and error records) a batch is about to write that its
 * sources' provenance does not list yet, written before them.
 *
 * Why: a commit writes outputs first and the provenance that vouches for them last, so a
 * crash (or a fence refused part way) in between leaves outputs that no provenance names.
 * The single queue reruns the batch on the same documents and makes the same outputs
 * again. A cluster's cross-key work does not: the next owner of the aggregates unit reruns
 * it after the other workers moved on, and a conversation whose smallest member arrived
 * meanwhile no longer writes the summary the dead owner wrote, which then stayed forever
 * (seen once in CI's cluster test). The intent names those outputs, so the next owner
 * removes the ones still unvouched for before it reruns (`removeUncommittedOutputs`).
 */
export interface IntentDoc extends CouchDoc {
  rd_intent: 'outputs';
  /** `[output id, writer (extension id), source id]`. */
  outputs: Array<[string, string, string]>;
}

/** Writes the intent (replacing the previous batch's, whose content is not read: only
 * its `_rev`, again on a 409). */
export async function writeIntent(db: Db, id: string, outputs: Array<[string, string, string]>): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const rev = await currentRev(db, id);
    const doc: IntentDoc = { _id: id, ...(rev ? { _rev: rev } : {}), rd_intent: 'outputs', outputs };
    if ((await putDoc(db, doc)).ok) return;
  }
  throw new Error(`the commit intent ${id} kept changing under this worker`);
}

/**
 * Takes out what the last intent at `id` named and no provenance vouches for: the item of
 * that writer in that output, where it still names that source. Returns how many
 * documents were written. Run by a new owner before it reruns the unit's feed: whatever
 * the rerun still produces it writes again.
 */
export async function removeUncommittedOutputs(db: Db, id: string): Promise<number> {
  const intent = (await bulkGet(db, [id])).get(id) as IntentDoc | undefined;
  if (!intent?.outputs?.length) return 0;
  const writer = new BatchWriter(db);
  await writer.load(intent.outputs.flatMap(([out, , source]) => [out, bookkeepingId(source)]));
  for (const [out, extension, source] of intent.outputs) {
    const entry = writer.provenance(source)?.extensions[extension];
    if (entry && (entry.outputs.includes(out) || entry.error === out)) continue;
    if (itemSourceId(writer.get(out), extension) === source) writer.removeItem(out, extension);
  }
  return (await writer.commit()).written;
}
