import safeRegex from 'safe-regex2';
import { canonicalJson } from '../core/index.js';
import { schemaLimits } from './limits.js';

/** A schema file as written in `schemas/<id>.json` and stored as `rd.core.schema`. */
export interface SchemaDefinition {
  id: string;
  version: number;
  description: string;
  key_types: string[];
  json_schema: Record<string, unknown>;
  /** For each older version N (as a string), the source of a function fields(N) -> fields(N+1). */
  upgrades?: Record<string, string>;
  previous_json_schemas?: Record<string, Record<string, unknown>>;
  examples?: Record<string, Array<Record<string, unknown>>>;
  expandable?: string[];
}

/**
 * Refuses definitions that would hurt the process that compiles them: too big, too deep,
 * or with a regular expression that can take exponential time (`(a+)+$`), which ajv
 * would otherwise run against every document.
 */
export function definitionSafetyProblems(def: SchemaDefinition): string[] {
  const problems: string[] = [];
  const size = Buffer.byteLength(canonicalJson(def));
  if (size > schemaLimits.maxDefinitionBytes) {
    problems.push(`the definition is ${size} bytes; the limit is ${schemaLimits.maxDefinitionBytes}`);
    return problems;
  }
  const walk = (value: unknown, depth: number, path: string): void => {
    if (problems.length > 10) return;
    if (depth > schemaLimits.maxDefinitionDepth) {
      problems.push(`${path} is nested more than ${schemaLimits.maxDefinitionDepth} levels deep`);
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, depth + 1, `${path}[${i}]`));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'pattern' && typeof v === 'string') || k === 'patternProperties') {
        const patterns = k === 'pattern' ? [v as string] : Object.keys(v as object);
        for (const p of patterns) {
          let ok: boolean;
          try {
            ok = safeRegex(p);
          } catch {
            ok = false;
          }
          if (!ok) problems.push(`${path}.${k}: the regular expression ${JSON.stringify(p)} can take exponential time (nested repetition); rewrite it without nested quantifiers`);
        }
      }
      walk(v, depth + 1, `${path}.${k}`);
    }
  };
  walk(def, 0, '$');
  if (def.version > schemaLimits.maxVersion) problems.push(`version ${def.version} is over ${schemaLimits.maxVersion}`);
  return problems;
}
