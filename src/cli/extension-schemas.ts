import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SchemaDefinition } from '../schema/definition.js';
import { readSchemaFiles } from '../schema/read-schema-files.js';
import { builtInSchemaDir } from './install-schemas.js';

/**
 * An extension's own schemas live next to it: for every schema it emits that Raindrop
 * does not ship, its directory holds `<schema id>.json` (the format of `schemas/`). Only
 * files named after an emitted schema are read, so fixtures such as `message.json` can sit
 * in the same directory.
 */
export interface OwnSchemas {
  definitions: SchemaDefinition[];
  /** Files that exist but cannot be used, by schema id. */
  refused: Array<{ id: string; problems: string[] }>;
}

export async function readOwnSchemaFiles(dir: string, schemaIds: Iterable<string>, builtIn: ReadonlySet<string>): Promise<OwnSchemas> {
  const out: OwnSchemas = { definitions: [], refused: [] };
  for (const id of [...new Set(schemaIds)].sort()) {
    const file = join(dir, `${id}.json`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      out.refused.push({ id, problems: [`cannot read ${file}: ${(err as Error).message}`] });
      continue;
    }
    if (builtIn.has(id)) {
      out.refused.push({ id, problems: [`${file}: "${id}" is a schema Raindrop ships (schemas/${id}.json); an extension directory cannot replace it. Remove the file, or give your schema an id of your own (e.g. "me.${id.split('.').at(-1) ?? 'x'}")`] });
      continue;
    }
    let definition: SchemaDefinition;
    try {
      definition = JSON.parse(text) as SchemaDefinition;
    } catch (cause) {
      out.refused.push({ id, problems: [`${file} is not valid JSON: ${(cause as Error).message}`] });
      continue;
    }
    if (definition === null || typeof definition !== 'object' || definition.id !== id) {
      out.refused.push({ id, problems: [`${file} must define the schema "${id}" (its "id" field is ${JSON.stringify((definition as { id?: unknown } | null)?.id)})`] });
      continue;
    }
    out.definitions.push(definition);
  }
  return out;
}

/** The ids of the schemas Raindrop ships. */
export async function builtInSchemaIds(): Promise<Set<string>> {
  return new Set((await readSchemaFiles(builtInSchemaDir())).map((f) => f.definition.id));
}

/** What an author is told when an emitted schema has no definition anywhere. */
export function missingSchemaProblem(dir: string, schemaId: string): string {
  return `emits "${schemaId}", which has no schema: write ${join(dir, `${schemaId}.json`)} (id, version, description, key_types, json_schema, examples; see the README, "Writing an extension")`;
}
