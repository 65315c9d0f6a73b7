import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { silentLogger } from '../../src/core/index.js';
import type { Db } from '../../src/couch/connect.js';
import type { CouchDoc } from '../../src/couch/documents.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { QueueRunner } from '../../src/queue/queue-runner.js';
import { writeValidatedItem } from '../../src/schema/validated-write.js';

export const queueFixtures = join(projectRoot, 'test/fixtures/queue-extensions');
export const queueSchemas = join(projectRoot, 'test/fixtures/queue-schemas');

/** Design docs, core and test schemas, and the given extension files in a fresh dir. */
export async function prepareQueueDb(db: Db, extensionFiles: string[]): Promise<{ registry: SchemaRegistry; extDir: string }> {
  await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(db, builtInSchemaDir());
  await installSchemas(db, queueSchemas);
  const registry = await SchemaRegistry.load(db);
  const extDir = await mkdtemp(join(tmpdir(), 'raindrop-queue-ext-'));
  for (const file of extensionFiles) await cp(join(queueFixtures, file), join(extDir, file));
  await installExtensions(registry, db, [extDir], silentLogger);
  return { registry, extDir };
}

/** A raw item as a fetcher writes it. */
export function writeRaw(registry: SchemaRegistry, db: Db, id: string, text: string) {
  return writeValidatedItem(registry, db, { key: ['email', id], schemaId: 'rd.test.raw', writer: 'fetch.test', category: 'provider', source: null, fields: { text } });
}

/** Every document except bookkeeping that legitimately differs between runs (revisions,
 * checkpoints, the directory an extension was installed from), for comparing two
 * databases' derived state. */
export async function snapshot(db: Db): Promise<Record<string, unknown>> {
  const all = (await db.scope.list({ include_docs: true })) as unknown as { rows: Array<{ id: string; doc: CouchDoc }> };
  const out: Record<string, unknown> = {};
  for (const { id, doc } of all.rows) {
    if (id.startsWith('_design/') || doc.rd_schema_id === 'rd.core.workqueue-state') continue;
    // Each database's extensions were installed from a temporary directory of its own.
    if (doc.rd_schema_id === 'rd.ext.workqueue') {
      const { directory: _directory, rd_schema_items: _items, _rev: _r, ...same } = doc;
      out[id] = same;
      continue;
    }
    const { _rev, _attachments, ...rest } = doc;
    out[id] = { ...rest, ...(_attachments ? { _attachments: Object.keys(_attachments).sort() } : {}) };
  }
  return out;
}

/** Runs the queue over the database until idle, with a fresh runner, and closes it. */
export async function runQueueOnce(db: Db, registry: SchemaRegistry, poolSize = 2, batchSize?: number) {
  const runner = await QueueRunner.start({ db, registry, logger: silentLogger, poolSize, ...(batchSize === undefined ? {} : { batchSize }) });
  try {
    return await runner.runUntilIdle();
  } finally {
    await runner.close();
  }
}
