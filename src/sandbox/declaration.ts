import type { ExtensionDeclaration } from './types.js';

/** What the isolate reports about a module's default export, before any checking. */
export interface RawDeclaration {
  defaultType: string;
  id?: unknown;
  source_schemas?: unknown;
  emits?: unknown;
  reads?: unknown;
  category?: unknown;
  confidence?: unknown;
  uses_dependencies?: unknown;
  handlerType: string;
  laterHandlerType: string;
  unknownKeys: string[];
}

const idPattern = /^[a-z][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*$/;
const known = ['id', 'source_schemas', 'emits', 'reads', 'category', 'confidence', 'uses_dependencies', 'handler', 'later_handler'];

/**
 * Checks a declaration and says, per field, what is wrong and how to fix it. An
 * extension with any problem is not run.
 */
export function checkDeclaration(raw: RawDeclaration): { declaration?: ExtensionDeclaration; problems: string[] } {
  const problems: string[] = [];
  if (raw.defaultType !== 'object') {
    return { problems: [`the file must "export default { id, source_schemas, emits, handler, ... }"; its default export is ${raw.defaultType}`] };
  }
  if (typeof raw.id !== 'string' || !idPattern.test(raw.id)) {
    problems.push(`id: must be dot-separated lower-case words such as "rd.ext.my-extension"; got ${show(raw.id)}`);
  }
  const schemaList = (name: 'source_schemas' | 'emits' | 'reads', required: boolean): string[] => {
    const value = raw[name];
    if (value === undefined && !required) return [];
    if (!Array.isArray(value) || value.some((s) => typeof s !== 'string' || !idPattern.test(s))) {
      problems.push(`${name}: must be an array of schema ids such as ["rd.msg.email"]; got ${show(value)}`);
      return [];
    }
    if (required && value.length === 0) problems.push(`${name}: must name at least one schema`);
    return value as string[];
  };
  const source = schemaList('source_schemas', true);
  const emits = schemaList('emits', false);
  const reads = schemaList('reads', false);
  const category = raw.category ?? 'extender';
  if (category !== 'provider' && category !== 'extender' && category !== 'smart') {
    problems.push(`category: must be "provider", "extender" or "smart"; got ${show(raw.category)}`);
  }
  const confidence = raw.confidence ?? 1;
  if (typeof confidence !== 'number' || !Number.isFinite(confidence)) {
    problems.push(`confidence: must be a number (higher wins where two writers set one field); got ${show(raw.confidence)}`);
  }
  if (raw.uses_dependencies !== undefined && typeof raw.uses_dependencies !== 'boolean') {
    problems.push(`uses_dependencies: must be true or false; got ${show(raw.uses_dependencies)}`);
  }
  if (raw.handlerType !== 'function') {
    problems.push(`handler: must be a function handler(doc, rd); got ${raw.handlerType}`);
  }
  if (raw.laterHandlerType !== 'undefined' && raw.laterHandlerType !== 'function') {
    problems.push(`later_handler: must be a function later_handler(values, rd) or left out; got ${raw.laterHandlerType}`);
  }
  for (const key of raw.unknownKeys) {
    const near = known.find((k) => k.replace(/_/g, '') === key.toLowerCase().replace(/_/g, ''));
    problems.push(`${key}: is not a declaration field${near ? `; did you mean "${near}"?` : ` (known: ${known.join(', ')})`}`);
  }
  if (problems.length > 0) return { problems };
  return {
    problems,
    declaration: {
      id: raw.id as string,
      source_schemas: source,
      emits,
      reads,
      category: category as ExtensionDeclaration['category'],
      confidence: confidence as number,
      uses_dependencies: raw.uses_dependencies === true,
      has_later_handler: raw.laterHandlerType === 'function',
    },
  };
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
