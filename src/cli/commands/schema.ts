import { readFile } from 'node:fs/promises';
import { RaindropError, errorCodes, type JsonValue, type RdKey } from '../../core/index.js';
import { useDatabase } from '../../couch/connect.js';
import { topLevelFields } from '../../couch/schema-items/merge.js';
import type { CouchDoc } from '../../couch/documents.js';
import { migrateSchemas } from '../../schema/migrate.js';
import { SchemaRegistry } from '../../schema/registry.js';
import type { Command, CommandContext, OptionValues } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';

export const schemaCommand: Command = {
  name: 'schema',
  help: `Usage:
  raindrop schema list [--json]
  raindrop schema show ID [--version N] [--json]
  raindrop schema check ID FILE.json [--json]
  raindrop schema migrate [ID...] [--json]

list     the schemas installed in the database, with their versions
show     a schema's definition (with --version N, the JSON Schema of an older version)
check    validates a document (or just its fields) against schema ID; a document with
         an older rd_schema_version is upgraded first. Prints every failing JSON path
         and exits 10 when the document is invalid.
migrate  rewrites stored documents of older versions at the current version, in
         batches; safe to interrupt and run again. Without ID, every schema.

Examples:
  raindrop schema list
  raindrop schema check rd.account account.json
  raindrop schema migrate rd.msg.email`,
  options: { version: { type: 'string' } },
  async run(ctx, values, positionals) {
    const [sub, ...args] = positionals;
    const { server, db } = await openDatabase(ctx);
    const registry = await SchemaRegistry.load(db, { logger: ctx.logger }).catch(async (err: unknown) => {
      await server.release();
      throw err;
    });
    try {
      switch (sub) {
        case 'list':
          return list(ctx, registry);
        case 'show':
          return show(ctx, registry, args, values);
        case 'check':
          return check(ctx, registry, args);
        case 'migrate':
          return await migrate(ctx, registry, db, args);
        default:
          throw new RaindropError(errorCodes.USAGE, `"raindrop schema" needs list, show, check or migrate; got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
      }
    } finally {
      await registry.close();
      await server.release();
    }
  },
};

function list(ctx: CommandContext, registry: SchemaRegistry): number {
  const rows = registry.list().map((s) => ({ id: s.id, version: s.version, key_types: s.definition.key_types, description: s.definition.description }));
  const problems = Object.fromEntries(registry.problems);
  ctx.output.data(
    { schemas: rows, problems },
    [...rows.map((r) => `${r.id}  v${r.version}  [${r.key_types.join(', ')}]  ${r.description.split('. ')[0]}`), ...Object.entries(problems).map(([id, p]) => `REFUSED ${id}: ${p}`)].join('\n') || 'no schemas installed; run "raindrop init"',
  );
  return exitCodes.ok;
}

function show(ctx: CommandContext, registry: SchemaRegistry, args: string[], values: OptionValues): number {
  const schema = registry.get(args[0] ?? '');
  if (!schema) throw new RaindropError(errorCodes.SCHEMA_UNKNOWN, `schema "${args[0] ?? ''}" is not installed; "raindrop schema list" shows what is`);
  if (typeof values.version === 'string' && Number(values.version) !== schema.version) {
    const old = schema.definition.previous_json_schemas?.[values.version];
    if (!old) throw new RaindropError(errorCodes.USAGE, `schema ${schema.id} has no JSON Schema recorded for version ${values.version} (current: ${schema.version})`);
    ctx.output.data({ id: schema.id, version: Number(values.version), json_schema: old }, JSON.stringify(old, null, 2));
    return exitCodes.ok;
  }
  ctx.output.data(schema.definition, JSON.stringify(schema.definition, null, 2));
  return exitCodes.ok;
}

async function check(ctx: CommandContext, registry: SchemaRegistry, args: string[]): Promise<number> {
  const [id, file] = args;
  if (id === undefined || file === undefined) throw new RaindropError(errorCodes.USAGE, 'usage: raindrop schema check ID FILE.json');
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw new RaindropError(errorCodes.USAGE, `cannot read ${file} as JSON: ${(cause as Error).message}`, { cause });
  }
  const isDoc = 'rd_schema_id' in value || '_id' in value;
  const fields = isDoc ? topLevelFields(value as CouchDoc) : (value as Record<string, JsonValue>);
  const key = (Array.isArray(value.rd_key) ? value.rd_key : [registry.get(id)?.definition.key_types[0] ?? 'item', 'check']) as unknown as RdKey;
  const outcome = await registry.check({
    key,
    schemaId: id,
    ...(typeof value.rd_schema_version === 'number' ? { schemaVersion: value.rd_schema_version } : {}),
    fields,
    writer: file,
  });
  if (outcome.ok) {
    ctx.output.data({ valid: true, schema: id, version: outcome.version }, `valid: ${file} is a valid ${id} (v${outcome.version})`);
    return exitCodes.ok;
  }
  ctx.output.data(
    { valid: false, schema: id, reason: outcome.reason, message: outcome.message, failures: outcome.failures },
    outcome.failures.length > 0 ? `invalid: ${file} against ${id}\n${outcome.failures.map((f) => `  ${f.path || '(item)'}: ${f.message}`).join('\n')}` : `invalid: ${outcome.message}`,
  );
  return exitCodes.schemaInvalid;
}

async function migrate(ctx: CommandContext, registry: SchemaRegistry, db: ReturnType<typeof useDatabase>, args: string[]): Promise<number> {
  const ids = args.length > 0 ? args : registry.list().map((s) => s.id);
  for (const id of ids) if (!registry.get(id)) throw new RaindropError(errorCodes.SCHEMA_UNKNOWN, `schema "${id}" is not installed`);
  const result = await migrateSchemas(registry, db, ids, (p) => ctx.logger.info(`migrating ${p.schemaId}: ${p.scanned} scanned, ${p.upgraded} upgraded, ${p.failed} failed`));
  ctx.output.data(
    result,
    [...result.progress.map((p) => `${p.schemaId}: ${p.scanned} documents, ${p.upgraded} upgraded, ${p.failed} failed, ${p.conflicts} changed meanwhile (run again)`), ...result.failures.map((f) => `  failed ${f.id}: ${f.message}`)].join('\n'),
  );
  return result.failures.length > 0 ? exitCodes.schemaInvalid : exitCodes.ok;
}
