import { docIdFor, type JsonValue } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import type { Seq } from '../couch/changes-follower.js';
import { bulkGet } from '../couch/bulk-get.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { BatchWriter } from './batch-writer.js';

export const checkpointSchemaId = 'rd.core.workqueue-state';
const writer = 'core.queue';

export interface Checkpoint {
  extension: string;
  code_hash: string;
  /** Opaque; only ever handed back to the feed as `since`. */
  seq: Seq;
  lane: 'incoming' | 'backlog';
  processed?: number;
  caught_up?: boolean;
  /** While an edited extension replays: the code it replaced. */
  previous_code_hash?: string;
}

export const checkpointId = (extension: string) => docIdFor(['ext', extension], checkpointSchemaId);

export async function readCheckpoints(db: Db, extensions: readonly string[]): Promise<Map<string, Checkpoint>> {
  const docs = await bulkGet(db, extensions.map(checkpointId));
  const out = new Map<string, Checkpoint>();
  for (const ext of extensions) {
    const doc = docs.get(checkpointId(ext));
    if (doc && typeof doc.code_hash === 'string' && doc.seq !== undefined) out.set(ext, doc as unknown as Checkpoint);
  }
  return out;
}

/**
 * Writes checkpoints, validated, in one bulk request. Called only after the outputs of
 * the batch they cover are committed, so a crash in between repeats the batch (which
 * provenance makes cheap) and never skips it.
 */
export async function writeCheckpoints(db: Db, registry: SchemaRegistry, checkpoints: readonly Checkpoint[]): Promise<void> {
  if (checkpoints.length === 0) return;
  const outcomes = await registry.checkMany(checkpoints.map((c) => ({ key: ['ext', c.extension], schemaId: checkpointSchemaId, fields: c as unknown as Record<string, JsonValue>, writer })));
  const batch = new BatchWriter(db);
  await batch.load(checkpoints.map((c) => checkpointId(c.extension)));
  checkpoints.forEach((c, i) => {
    const outcome = outcomes[i];
    if (!outcome?.ok) throw new Error(`invalid checkpoint for ${c.extension}: ${outcome?.message}`);
    batch.applyItem(checkpointId(c.extension), { key: ['ext', c.extension], schemaId: checkpointSchemaId, schemaVersion: outcome.version, writer, category: 'provider', source: null, fields: outcome.fields });
  });
  await batch.commit();
}

/** Removes checkpoints (unprocess): the extensions start over from the beginning. */
export async function removeCheckpoints(db: Db, extensions: readonly string[]): Promise<void> {
  const batch = new BatchWriter(db);
  await batch.load(extensions.map(checkpointId));
  for (const ext of extensions) batch.removeItem(checkpointId(ext), writer);
  await batch.commit();
}
