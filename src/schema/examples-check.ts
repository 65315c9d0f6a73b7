import type { JsonValue } from '../core/index.js';
import type { CompiledSchema } from './compile.js';
import type { UpgradeRunner } from './upgrade-runner.js';

/**
 * The compatibility check of a new schema version: every example of every version must
 * be valid at its own version (where that version's JSON Schema is known) and, upgraded
 * through the chain, valid at the current version. Returns what failed.
 */
export async function exampleProblems(schema: CompiledSchema, runner: UpgradeRunner): Promise<string[]> {
  const def = schema.definition;
  const problems: string[] = [];
  const requests: Array<{ version: number; index: number; fields: Record<string, JsonValue> }> = [];
  for (const [v, list] of Object.entries(def.examples ?? {})) {
    const version = Number(v);
    if (version > def.version) {
      problems.push(`examples for version ${version}, but the schema is at version ${def.version}`);
      continue;
    }
    list.forEach((fields, index) => {
      const own = schema.validateAt(version, fields);
      if (own && own.length > 0) {
        problems.push(`example ${index + 1} of version ${version} is not valid at version ${version}: ${own.map((f) => `${f.path || '(item)'} ${f.message}`).join('; ')}`);
        return;
      }
      requests.push({ version, index, fields: fields as Record<string, JsonValue> });
    });
  }
  const older = requests.filter((r) => r.version < def.version);
  const upgraded = await runner.upgrade(older.map((r) => ({ schemaId: def.id, from: r.version, to: def.version, fields: r.fields })));
  older.forEach((r, k) => {
    const result = upgraded[k];
    if (!result?.ok) {
      problems.push(`example ${r.index + 1} of version ${r.version}: ${result?.message ?? 'no result'}`);
      return;
    }
    const failures = schema.validate(result.fields);
    if (failures.length > 0) {
      problems.push(`example ${r.index + 1} of version ${r.version}, upgraded to version ${def.version}, is not valid: ${failures.map((f) => `${f.path || '(item)'} ${f.message}`).join('; ')}`);
    }
  });
  return problems;
}
