import { RaindropError, docIdFor, errorCodes } from '../../core/index.js';
import { type Db, callCouch } from '../connect.js';
import { statusOf } from '../couch-error.js';
import { bulkWrite } from '../bulk-write.js';
import { getDoc } from '../bulk-get.js';
import type { CouchDoc } from '../documents.js';
import { couchLimits } from '../limits.js';
import { applyItem, removeItem, type PendingUpload } from './merge.js';
import type { SchemaItemInput } from './model.js';

export type ItemWriteOutcome =
  | { id: string; written: true; rev: string; conflicts: number }
  | { id: string; written: false; rev: string | undefined; conflicts: number };

/**
 * Writes one writer's schema item into its (key, schema) document: create, update, or
 * nothing when the stored document already holds exactly this contribution. A 409
 * (another writer got there first) re-reads and re-merges.
 */
export async function writeSchemaItem(db: Db, input: SchemaItemInput): Promise<ItemWriteOutcome> {
  const id = docIdFor(input.key, input.schemaId);
  return withConflictRetry(db, id, async (existing) => {
    const merged = applyItem(existing, input);
    if (!merged.changed) return { kind: 'unchanged', rev: existing?._rev };
    return { kind: 'write', doc: merged.doc, uploads: merged.uploads };
  });
}

/**
 * Removes one writer's contribution; the aggregate is recomputed from the others, and
 * the document is deleted when it was the last one.
 */
export async function removeSchemaItem(db: Db, id: string, writer: string): Promise<ItemWriteOutcome> {
  return withConflictRetry(db, id, async (existing) => {
    if (!existing) return { kind: 'unchanged', rev: undefined };
    const next = removeItem(existing, writer);
    if (!next.changed) return { kind: 'unchanged', rev: existing._rev };
    return { kind: 'write', doc: next.doc, uploads: [] };
  });
}

type Step =
  | { kind: 'unchanged'; rev: string | undefined }
  | { kind: 'write'; doc: CouchDoc; uploads: PendingUpload[] };

async function withConflictRetry(
  db: Db,
  id: string,
  decide: (existing: CouchDoc | undefined) => Promise<Step>,
): Promise<ItemWriteOutcome> {
  for (let conflicts = 0; conflicts <= couchLimits.conflictRetries; conflicts++) {
    if (conflicts > 0) await conflictPause(conflicts);
    const existing = await getDoc(db, id);
    const step = await decide(existing);
    if (step.kind === 'unchanged') return { id, written: false, rev: step.rev, conflicts };
    const [result] = await bulkWrite(db, [step.doc]);
    if (!result) throw new RaindropError(errorCodes.COUCH_HTTP, `writing ${id}: the server returned no result`);
    if (!result.ok && result.conflict) continue;
    if (!result.ok) {
      throw new RaindropError(errorCodes.COUCH_HTTP, `writing ${id} to "${db.name}" failed: ${result.error}: ${result.reason}`, {
        details: { id, error: result.error },
      });
    }
    let rev = result.rev;
    let conflicted = false;
    for (const upload of step.uploads) {
      const next = await putAttachment(db, id, rev, upload);
      if (next === undefined) {
        conflicted = true;
        break;
      }
      rev = next;
    }
    if (conflicted) continue;
    return { id, written: true, rev, conflicts };
  }
  throw new RaindropError(
    errorCodes.COUCH_CONFLICT,
    `writing ${id} to "${db.name}" still conflicted after ${couchLimits.conflictRetries} re-reads; another process keeps rewriting it. Stop the other writer and run the command again.`,
    { details: { id } },
  );
}

function conflictPause(attempt: number): Promise<void> {
  const ceiling = Math.min(couchLimits.conflictJitterBaseMs * 2 ** attempt, couchLimits.conflictJitterMaxMs);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

/** Standalone attachment PUT for bytes too big to inline; undefined on a 409. */
async function putAttachment(db: Db, id: string, rev: string, upload: PendingUpload): Promise<string | undefined> {
  return callCouch(db.couch, `uploading attachment "${upload.name}" of ${id}`, async () => {
    try {
      const res = (await db.scope.attachment.insert(id, upload.name, Buffer.from(upload.data), upload.contentType, { rev })) as unknown;
      // The embedded server answers with a text/plain content type, so nano hands back
      // the JSON unparsed; CouchDB's answer arrives parsed.
      const body = (typeof res === 'string' ? JSON.parse(res) : res) as { rev?: unknown };
      if (typeof body.rev !== 'string') {
        throw new RaindropError(errorCodes.COUCH_HTTP, `uploading attachment "${upload.name}" of ${id}: the server's answer has no rev`);
      }
      return body.rev;
    } catch (err) {
      if (statusOf(err) === 409) return undefined;
      throw err;
    }
  });
}
