import { dirname } from 'node:path';
import type { Logger } from '../core/index.js';
import { type CompiledSchema, compileDefinition } from '../schema/compile.js';
import { readSchemaFiles } from '../schema/read-schema-files.js';
import { builtInSchemaIds, missingSchemaProblem, readOwnSchemaFiles } from './extension-schemas.js';
import { builtInMetaSchema, builtInSchemaDir, checkSchemaDefinitions } from './install-schemas.js';

export interface EmittedSchemas {
  /** The schemas the file's outputs are validated against: its directory's, or shipped. */
  compiled: Map<string, CompiledSchema>;
  /** What is wrong with the directory's schema files. */
  problems: string[];
  /** Emitted schemas defined nowhere on disk (maybe installed from another directory). */
  missing: string[];
  /** The schema files of the extension's directory that passed, by id. */
  own: string[];
}

/**
 * The schemas an extension file emits, read from disk with no database: its own files
 * next to it (checked as `init` checks them: meta-schema, compilation, examples) and the
 * ones Raindrop ships. `ext check` and `ext run` use it, so both work before any install.
 */
export async function emittedSchemas(file: string, emits: readonly string[], logger?: Logger): Promise<EmittedSchemas> {
  const builtIn = await builtInSchemaIds();
  const dir = dirname(file);
  const own = await readOwnSchemaFiles(dir, emits, builtIn);
  const checked = await checkSchemaDefinitions(own.definitions, await builtInMetaSchema(), () => 0, logger);
  const compiled = new Map(checked.accepted.map((s) => [s.id, s]));
  const shipped = emits.filter((s) => builtIn.has(s));
  if (shipped.length > 0) {
    for (const { definition } of await readSchemaFiles(builtInSchemaDir())) if (shipped.includes(definition.id)) compiled.set(definition.id, compileDefinition(definition));
  }
  const refused = [...own.refused, ...checked.refused];
  return {
    compiled,
    problems: refused.map((r) => `schema ${r.id}: ${r.problems.join('; ')}`),
    missing: emits.filter((s) => !compiled.has(s) && !refused.some((r) => r.id === s)),
    own: checked.accepted.map((s) => s.id),
  };
}

export { missingSchemaProblem };
