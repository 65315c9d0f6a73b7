import { RaindropError, errorCodes } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import type { SchemaItemInput } from '../couch/schema-items/model.js';
import { type ItemWriteOutcome, writeSchemaItem } from '../couch/schema-items/write-schema-item.js';
import type { SchemaRegistry } from './registry.js';

/**
 * The write path every writer outside the queue uses (fetchers, the CLI): upgrade to the
 * current version, validate, write. Nothing invalid is stored; a failure names the schema,
 * version, writer and every failing path.
 */
export async function writeValidatedItem(registry: SchemaRegistry, db: Db, input: SchemaItemInput): Promise<ItemWriteOutcome> {
  const outcome = await registry.check({
    key: input.key,
    schemaId: input.schemaId,
    ...(input.schemaVersion === undefined ? {} : { schemaVersion: input.schemaVersion }),
    fields: input.fields,
    writer: input.writer,
    partial: input.category === 'extender',
  });
  if (!outcome.ok) {
    const code = outcome.reason === 'unknown-schema' ? errorCodes.SCHEMA_UNKNOWN : outcome.reason === 'upgrade' ? errorCodes.UPGRADE_FAILED : errorCodes.VALIDATION_FAILED;
    throw new RaindropError(code, outcome.message, { details: { schema: input.schemaId, writer: input.writer, failures: outcome.failures } });
  }
  return writeSchemaItem(db, { ...input, fields: outcome.fields, schemaVersion: outcome.version });
}
