import { join } from 'node:path';
import { docIdFor, type JsonValue, type Logger } from '../core/index.js';
import { projectRoot } from '../core/entry-points.js';
import { bulkGet } from '../couch/bulk-get.js';
import type { Db } from '../couch/connect.js';
import { writeSchemaItem } from '../couch/schema-items/write-schema-item.js';
import { type CompiledSchema, compileDefinition } from '../schema/compile.js';
import type { SchemaDefinition } from '../schema/definition.js';
import { exampleProblems } from '../schema/examples-check.js';
import { readSchemaFiles } from '../schema/read-schema-files.js';
import { definitionOf, schemaSchemaId } from '../schema/registry.js';
import { UpgradeRunner } from '../schema/upgrade-runner.js';

export interface SchemaInstallReport {
  installed: Array<{ id: string; version: number; written: boolean }>;
  refused: Array<{ id: string; problems: string[] }>;
}

export const builtInSchemaDir = () => join(projectRoot, 'schemas');

/** The built-in meta-schema (rd.core.schema), which every schema file is checked against. */
export async function builtInMetaSchema(): Promise<SchemaDefinition | undefined> {
  return (await readSchemaFiles(builtInSchemaDir())).find((f) => f.definition.id === schemaSchemaId)?.definition;
}

/**
 * Writes each schema file as an `rd.core.schema` item, after checking it: valid against
 * the meta-schema, safe and compilable, not older than what the database holds, and its
 * upgrade chain holding on its examples. A refused schema leaves the stored one in force.
 */
export async function installSchemas(db: Db, dir: string, logger?: Logger): Promise<SchemaInstallReport> {
  const files = await readSchemaFiles(dir);
  return installSchemaDefinitions(db, files.map((f) => f.definition), files.find((f) => f.definition.id === schemaSchemaId)?.definition, logger);
}

/**
 * Installs definitions read from anywhere (the built-in folder, an extension's own
 * directory), checked against the meta-schema `metaDef`.
 */
export async function installSchemaDefinitions(db: Db, definitions: readonly SchemaDefinition[], metaDef: SchemaDefinition | undefined, logger?: Logger): Promise<SchemaInstallReport> {
  const stored = await bulkGet(db, definitions.map((d) => docIdFor(['schema', d.id], schemaSchemaId)));
  const storedVersion = (id: string) => {
    const current = stored.get(docIdFor(['schema', id], schemaSchemaId));
    return current ? definitionOf(current).version : 0;
  };
  const { accepted, refused } = await checkSchemaDefinitions(definitions, metaDef, storedVersion, logger);
  const report: SchemaInstallReport = { installed: [], refused };
  for (const schema of accepted) {
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
  return report;
}

/**
 * Every check a definition must pass before it is installed, without a database:
 * the meta-schema, safety, compilation, no downgrade (`storedVersion`), and the upgrade
 * chain holding on its examples. `ext check` uses it on an extension's own schema files.
 */
export async function checkSchemaDefinitions(
  definitions: readonly SchemaDefinition[],
  metaDef: SchemaDefinition | undefined,
  storedVersion: (id: string) => number = () => 0,
  logger?: Logger,
): Promise<{ accepted: CompiledSchema[]; refused: Array<{ id: string; problems: string[] }> }> {
  const refused: Array<{ id: string; problems: string[] }> = [];
  let meta: CompiledSchema | undefined;
  try {
    meta = metaDef ? compileDefinition(metaDef) : undefined;
  } catch (err) {
    // Without the meta-schema nothing can be checked: refuse everything, install nothing.
    for (const definition of definitions) refused.push({ id: definition.id, problems: [`the meta-schema ${schemaSchemaId} is refused: ${(err as Error).message}`] });
    return { accepted: [], refused };
  }
  const compiled = new Map<string, CompiledSchema>();
  for (const definition of definitions) {
    const problems = meta ? meta.validate(definition).map((f) => `${f.path || '(definition)'} ${f.message}`) : [];
    const stored = storedVersion(definition.id);
    if (stored > definition.version) problems.push(`the database holds version ${stored}, newer than this file's ${definition.version}; refusing to downgrade`);
    if (problems.length > 0) {
      refused.push({ id: definition.id, problems });
      continue;
    }
    try {
      compiled.set(definition.id, compileDefinition(definition));
    } catch (err) {
      refused.push({ id: definition.id, problems: [(err as Error).message] });
    }
  }
  const accepted: CompiledSchema[] = [];
  const runner = new UpgradeRunner(logger);
  try {
    runner.setDefinitions([...compiled.values()].map((c) => c.definition));
    for (const schema of compiled.values()) {
      const problems = await exampleProblems(schema, runner);
      if (problems.length > 0) refused.push({ id: schema.id, problems });
      else accepted.push(schema);
    }
  } finally {
    await runner.close();
  }
  return { accepted, refused };
}
