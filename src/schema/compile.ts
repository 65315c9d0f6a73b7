import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { RaindropError, errorCodes } from '../core/index.js';
import { type SchemaDefinition, definitionSafetyProblems } from './definition.js';

export interface FieldFailure {
  /** JSON pointer of the failing value, e.g. `/identities/0/1` ('' for the whole item). */
  path: string;
  message: string;
}

export interface CompiledSchema {
  definition: SchemaDefinition;
  id: string;
  version: number;
  /** Validates the item's own fields at the current version. */
  validate(fields: unknown): FieldFailure[];
  /** Validates an extender's fields: every field it sets must be valid, but the fields
   * a provider completes (top-level `required`) may be missing. */
  validatePartial(fields: unknown): FieldFailure[];
  /** Validates fields at an older version, when its JSON Schema is known. */
  validateAt(version: number, fields: unknown): FieldFailure[] | undefined;
}

/**
 * One ajv instance per compiled JSON Schema: strict mode (unknown keywords are errors,
 * not silently ignored), all errors for reports, formats, and never `$data` (it has had
 * a security advisory and schemas do not need it). Separate instances keep one
 * definition's `$id`s and `$ref`s from reaching another's. The check against the
 * JSON Schema meta-schema is done once per schema by `metaCheck` instead of by each
 * instance: each instance compiled the meta-schema itself first, which made loading the
 * ~40 schemas take 1.9 s (0.5 s this way) at the start of every command.
 */
function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true, $data: false, allowUnionTypes: true, validateSchema: false });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  return ajv;
}

let metaChecker: Ajv2020 | undefined;
/** Throws as ajv does for a schema that is not valid JSON Schema (draft 2020-12). */
function metaCheck(schema: Record<string, unknown>): void {
  metaChecker ??= new Ajv2020({ strict: true, allErrors: true, $data: false, allowUnionTypes: true });
  if (!metaChecker.validateSchema(schema)) throw new Error(`schema is invalid: ${metaChecker.errorsText(metaChecker.errors)}`);
}

export function toFailures(errors: ErrorObject[] | null | undefined): FieldFailure[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : e.keyword === 'enum' ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})` : '';
    return { path: e.instancePath, message: `${e.message ?? 'is invalid'}${extra}` };
  });
}

/** Compiles a definition, or throws SCHEMA_INVALID naming what is wrong. */
export function compileDefinition(def: SchemaDefinition): CompiledSchema {
  const unsafe = definitionSafetyProblems(def);
  if (unsafe.length > 0) {
    throw new RaindropError(errorCodes.SCHEMA_INVALID, `schema ${def.id} v${def.version} is refused: ${unsafe.join('; ')}`, { details: { problems: unsafe } });
  }
  const compile = (schema: Record<string, unknown>, label: string): ValidateFunction => {
    try {
      metaCheck(schema);
      return newAjv().compile(schema);
    } catch (cause) {
      throw new RaindropError(errorCodes.SCHEMA_INVALID, `schema ${def.id} ${label} does not compile: ${(cause as Error).message}`, { cause });
    }
  };
  const current = compile(def.json_schema, `v${def.version}`);
  const { required: _required, ...withoutRequired } = def.json_schema;
  // Compiled when first used (only partial writes use it): the same schema without its
  // top-level `required`, so it compiles whenever the whole one does.
  let partial: ValidateFunction | undefined;
  const previous = new Map<number, ValidateFunction>();
  for (const [v, schema] of Object.entries(def.previous_json_schemas ?? {})) previous.set(Number(v), compile(schema, `v${v}`));
  for (let v = 1; v < def.version; v++) {
    if (typeof def.upgrades?.[String(v)] !== 'string') {
      throw new RaindropError(errorCodes.SCHEMA_INVALID, `schema ${def.id} is at version ${def.version} but has no upgrade from version ${v} to ${v + 1}; add "upgrades": {"${v}": "function (fields) { ...; return fields; }"}`);
    }
  }
  return {
    definition: def,
    id: def.id,
    version: def.version,
    validate: (fields) => (current(fields) ? [] : toFailures(current.errors)),
    validatePartial: (fields) => {
      partial ??= compile(withoutRequired, `v${def.version} (partial)`);
      return partial(fields) ? [] : toFailures(partial.errors);
    },
    validateAt: (version, fields) => {
      if (version === def.version) return current(fields) ? [] : toFailures(current.errors);
      const fn = previous.get(version);
      if (!fn) return undefined;
      return fn(fields) ? [] : toFailures(fn.errors);
    },
  };
}
