import type { JsonValue } from '../core/index.js';
import { bulkWrite } from '../couch/bulk-write.js';
import { callCouch, type Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { itemsOf } from '../couch/schema-items/merge.js';
import { schemaLimits } from './limits.js';
import type { SchemaRegistry } from './registry.js';

export interface MigrateProgress {
  schemaId: string;
  scanned: number;
  upgraded: number;
  failed: number;
  /** Documents changed by someone else meanwhile; running migrate again picks them up. */
  conflicts: number;
}

export interface MigrateFailure {
  id: string;
  message: string;
}

/**
 * Rewrites stored documents of a schema (or of every schema) at its current version, in
 * batches. Resumable by construction: a document already at the current version is
 * skipped, so a second run continues where an interrupted one stopped. A document whose
 * upgrade fails or whose upgraded fields do not validate is left exactly as it was.
 */
export async function migrateSchemas(
  registry: SchemaRegistry,
  db: Db,
  schemaIds: readonly string[],
  onProgress: (progress: MigrateProgress) => void = () => undefined,
): Promise<{ progress: MigrateProgress[]; failures: MigrateFailure[] }> {
  const all: MigrateProgress[] = [];
  const failures: MigrateFailure[] = [];
  for (const schemaId of schemaIds) {
    const schema = registry.get(schemaId);
    if (!schema) continue;
    const progress: MigrateProgress = { schemaId, scanned: 0, upgraded: 0, failed: 0, conflicts: 0 };
    let startDocId: string | undefined;
    for (;;) {
      const page = (await callCouch(db.couch, `reading ${schemaId} documents`, () =>
        db.scope.view('rd_core', 'by_schema', {
          key: schemaId,
          reduce: false,
          include_docs: true,
          limit: schemaLimits.migrateBatchSize + 1,
          ...(startDocId === undefined ? {} : { startkey_docid: startDocId }),
        }),
      )) as unknown as { rows: Array<{ id: string; doc?: CouchDoc }> };
      const rows = page.rows.slice(0, schemaLimits.migrateBatchSize);
      startDocId = page.rows[schemaLimits.migrateBatchSize]?.id;
      const docs = rows.map((r) => r.doc).filter((d): d is CouchDoc => d !== undefined);
      progress.scanned += docs.length;
      const stale = docs.filter((d) => [...itemsOf(d).values()].some((item) => (item.schema_version ?? 1) < schema.version));
      const results = await registry.upgradeDocs(stale);
      const toWrite: CouchDoc[] = [];
      results.forEach((result, i) => {
        const original = stale[i] as CouchDoc;
        if (!result.ok) {
          failures.push({ id: original._id, message: result.message });
          progress.failed++;
          return;
        }
        const invalid = [...itemsOf(result.doc).entries()].flatMap(([writer, item]) =>
          (item.category === 'provider' ? schema.validate(item.fields) : schema.validatePartial(item.fields as Record<string, JsonValue>)).map((f) => `${writer}: ${f.path || '(item)'} ${f.message}`),
        );
        if (invalid.length > 0) {
          failures.push({ id: original._id, message: `the upgraded document is not valid at version ${schema.version}: ${invalid.join('; ')}` });
          progress.failed++;
          return;
        }
        toWrite.push(result.doc);
      });
      for (const written of await bulkWrite(db, toWrite)) {
        if (written.ok) progress.upgraded++;
        else if (written.conflict) progress.conflicts++;
        else {
          progress.failed++;
          failures.push({ id: written.id, message: `${written.error}: ${written.reason}` });
        }
      }
      onProgress({ ...progress });
      if (startDocId === undefined) break;
    }
    all.push(progress);
  }
  return { progress: all, failures };
}
