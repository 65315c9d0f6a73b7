import { join } from 'node:path';
import { docIdFor, type JsonValue, type Logger } from '../core/index.js';
import { projectRoot } from '../core/entry-points.js';
import { bulkGet } from '../couch/bulk-get.js';
import type { Db } from '../couch/connect.js';
import { writeSchemaItem } from '../couch/schema-items/write-schema-item.js';
import { type CompiledSchema, compileDefinition } from '../schema/compile.js';
import { exampleProblems } from '../schema/examples-check.js';
import { readSchemaFiles } from '../schema/read-schema-files.js';
import { definitionOf, schemaSchemaId } from '../schema/registry.js';
import { UpgradeRunner } from '../schema/upgrade-runner.js';

export interface SchemaInstallReport {
  installed: Array<{ id: string; version: number; written: boolean }>;
  refused: Array<{ id: string; problems: string[] }>;
}

export const builtInSchemaDir = () => join(projectRoot, 'schemas');

/**
 * Writes each schema file as an `rd.core.schema` item, after checking it: valid against
 * the meta-schema, safe and compilable, not older than what the database holds, and its
 * upgrade chain holding on its examples. A refused schema leaves the stored one in force.
 */
export async function installSchemas(db: Db, dir: string, logger?: Logger): Promise<SchemaInstallReport> {
  const files = await readSchemaFiles(dir);
  const report: SchemaInstallReport = { installed: [], refused: [] };
  const metaDef = files.find((f) => f.definition.id === schemaSchemaId)?.definition;
  let meta: CompiledSchema | undefined;
  try {
    meta = metaDef ? compileDefinition(metaDef) : undefined;
  } catch (err) {
    // Without the meta-schema nothing can be checked: refuse everything, install nothing.
    for (const { definition } of files) report.refused.push({ id: definition.id, problems: [`the meta-schema ${schemaSchemaId} is refused: ${(err as Error).message}`] });
    return report;
  }
  const stored = await bulkGet(db, files.map((f) => docIdFor(['schema', f.definition.id], schemaSchemaId)));
  const compiled = new Map<string, CompiledSchema>();
  const refuse = (id: string, problems: string[]) => report.refused.push({ id, problems });
  for (const { definition } of files) {
    const problems = meta ? meta.validate(definition).map((f) => `${f.path || '(definition)'} ${f.message}`) : [];
    const current = stored.get(docIdFor(['schema', definition.id], schemaSchemaId));
    const storedVersion = current ? definitionOf(current).version : 0;
    if (storedVersion > definition.version) problems.push(`the database holds version ${storedVersion}, newer than this file's ${definition.version}; refusing to downgrade`);
    if (problems.length > 0) {
      refuse(definition.id, problems);
      continue;
    }
    try {
      compiled.set(definition.id, compileDefinition(definition));
    } catch (err) {
      refuse(definition.id, [(err as Error).message]);
    }
  }
  const runner = new UpgradeRunner(logger);
  try {
    runner.setDefinitions([...compiled.values()].map((c) => c.definition));
    for (const schema of compiled.values()) {
      const problems = await exampleProblems(schema, runner);
      if (problems.length > 0) {
        refuse(schema.id, problems);
        continue;
      }
      const outcome = await writeSchemaItem(db, {
        key: ['schema', schema.id],
        schemaId: schemaSchemaId,
        writer: 'core.init',
        category: 'provider',
        source: null,
        fields: schema.definition as unknown as Record<string, JsonValue>,
      });
      report.installed.push({ id: schema.id, version: schema.version, written: outcome.written });
    }
  } finally {
    await runner.close();
  }
  return report;
}

