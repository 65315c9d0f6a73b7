import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RaindropError, docIdFor, errorCodes, type RdKey } from '../../core/index.js';
import { bulkGet } from '../../couch/bulk-get.js';
import { callCouch, connectCouch, useDatabase } from '../../couch/connect.js';
import { useRunning } from '../../couch/open-server.js';
import { startSandboxPool } from '../../sandbox/pool.js';
import { readExtensionFile } from '../../sandbox/read-extension-dirs.js';
import type { DocResult, HostServices, LoadedExtension } from '../../sandbox/types.js';
import type { Command, CommandContext, OptionValues } from '../command.js';
import { emittedSchemas, missingSchemaProblem } from '../emitted-schemas.js';
import { exitCodes } from '../exit-codes.js';
import { installedExtensionIds } from '../install-extensions.js';
import { openDatabase } from '../open-database.js';
import { extensionStatus } from '../extension-status.js';
import { removeExtension, setEnabled } from './ext-manage.js';

export const extCommand: Command = {
  name: 'ext',
  help: `Usage:
  raindrop ext list [--json]
  raindrop ext check FILE... [--json]
  raindrop ext run FILE --doc DOC.json [--open FIXTURES.json]
                   [--attachment NAME=FILE]... [--json]
  raindrop ext remove ID
  raindrop ext disable ID
  raindrop ext enable ID

list     every installed extension: id, source (built-in or its directory), enabled,
         state, lag behind the feed (changes) and error count.
check    loads each file in the sandbox and reports what is wrong with its declaration,
         its code, or the schemas it emits (exit code 9 when something is). A schema
         Raindrop does not ship must be defined next to the file, as
         <schema id>.json (the format of the project's schemas/ folder).
run      runs the handler (and later_handler) on one document and prints what it would
         emit, as JSON, each output validated against its schema. Nothing is written.
         --open gives the documents rd.open may find (a JSON array of documents with
         rd_key and rd_schema_id); --attachment gives the bytes rd.attachment(doc, NAME)
         returns for DOC. "raindrop show MESSAGE-ID --schema rd.msg.email" prints a
         real document to try it on, "--documents" the documents to --open.
remove   removes a user extension and what it derived (documents, errors, checkpoint)
         and the schemas its directory brought; "raindrop init" does not bring it back
         unless its file is still in an installed directory (then move the file first).
disable  keeps it installed and what it derived, but the queue does not run it.
enable   runs it again; it catches up from where it stopped.

"raindrop init --extensions DIR" installs a directory; init, serve and process keep
every installed directory and re-install what changed in it.

Examples:
  raindrop ext check my-extensions/subject-words.js
  raindrop ext run my-extensions/subject-words.js --doc message.json --open related.json
  raindrop ext run extensions/email.js --doc raw.json --attachment rd.fetch/rfc822=message.eml
  raindrop ext disable me.subject-words`,
  options: { doc: { type: 'string' }, open: { type: 'string' }, attachment: { type: 'string', multiple: true } },
  async run(ctx, values, positionals) {
    const [sub, ...files] = positionals;
    switch (sub) {
      case 'list':
        return listExtensions(ctx);
      case 'check':
        return checkFiles(ctx, files);
      case 'run':
        return runFile(ctx, files, values);
      case 'remove':
        return removeExtension(ctx, files[0]);
      case 'disable':
        return setEnabled(ctx, files[0], false);
      case 'enable':
        return setEnabled(ctx, files[0], true);
      default:
        throw new RaindropError(errorCodes.USAGE, `"raindrop ext" needs list, check, run, remove, disable or enable; got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
    }
  },
};

async function listExtensions(ctx: CommandContext): Promise<number> {
  const { server, db } = await openDatabase(ctx);
  try {
    const rows = await extensionStatus(db);
    const table = [
      ['ID', 'SOURCE', 'ENABLED', 'STATE', 'LAG', 'ERRORS'],
      ...rows.map((r) => [r.id, r.source === 'built-in' ? 'built-in' : join(r.source, r.file), r.enabled ? 'yes' : 'no', r.state, `${r.lag}${r.lagAtLeast ? '+' : ''}`, String(r.errors)]),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    ctx.output.data(
      { extensions: rows },
      rows.length === 0 ? 'no extensions installed; run "raindrop init"' : table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n'),
    );
    return exitCodes.ok;
  } finally {
    await server.release();
  }
}

async function checkFiles(ctx: CommandContext, files: string[]): Promise<number> {
  if (files.length === 0) throw new RaindropError(errorCodes.USAGE, 'raindrop ext check needs at least one FILE');
  const results: Array<LoadedExtension & { schemas: string[] }> = [];
  for (const file of files) {
    const source = await readExtensionFile(file);
    const pool = await startSandboxPool({ sources: [source], size: 1, logger: ctx.logger });
    let loaded: LoadedExtension[];
    try {
      loaded = [...pool.extensions];
    } finally {
      await pool.close();
    }
    for (const ext of loaded) {
      if (!ext.declaration) {
        results.push({ ...ext, schemas: [] });
        continue;
      }
      const schemas = await emittedSchemas(ext.origin, ext.declaration.emits, ctx.logger);
      const installed = schemas.missing.length > 0 ? await installedSchemas(ctx, schemas.missing) : new Set<string>();
      const problems = [...ext.problems, ...schemas.problems, ...schemas.missing.filter((s) => !installed.has(s)).map((s) => missingSchemaProblem(dirname(ext.origin), s))];
      results.push({ ...ext, problems, schemas: [...schemas.compiled.keys()] });
    }
  }
  const ok = results.every((r) => r.problems.length === 0);
  ctx.output.data(
    { ok, extensions: results },
    results
      .map((r) => (r.problems.length === 0 ? `ok   ${r.origin}: ${r.declaration?.id} (${r.declaration?.source_schemas.join(', ')} -> ${r.declaration?.emits.join(', ') || 'nothing'})` : `FAIL ${r.origin}:\n  ${r.problems.join('\n  ')}`))
      .join('\n'),
  );
  return ok ? exitCodes.ok : exitCodes.extensionInvalid;
}

async function runFile(ctx: CommandContext, files: string[], values: OptionValues): Promise<number> {
  const [file] = files;
  if (file === undefined || typeof values.doc !== 'string') throw new RaindropError(errorCodes.USAGE, 'usage: raindrop ext run FILE --doc DOC.json [--open FIXTURES.json]');
  const doc = normalise(await readJson(values.doc), values.doc);
  const fixtures = new Map<string, Record<string, unknown>>();
  if (typeof values.open === 'string') {
    const list = await readJson(values.open);
    for (const item of Array.isArray(list) ? list : Object.values(list as object)) {
      const d = normalise(item, values.open);
      fixtures.set(String(d._id), d);
    }
  }
  const attachments = new Map<string, Buffer>();
  for (const spec of Array.isArray(values.attachment) ? values.attachment.map(String) : []) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new RaindropError(errorCodes.USAGE, `--attachment takes NAME=FILE, got "${spec}"`);
    try {
      attachments.set(spec.slice(0, eq), await readFile(spec.slice(eq + 1)));
    } catch (cause) {
      throw new RaindropError(errorCodes.USAGE, `cannot read the attachment file ${spec.slice(eq + 1)}: ${(cause as Error).message}`, { cause });
    }
  }
  const services: HostServices = {
    open: async (requests) => requests.map((r) => fixtures.get(docIdFor(r.key, r.schemaId)) ?? null),
    attachment: async (id, name) => (id === doc._id ? (attachments.get(name) ?? null) : null),
    query: async () => ({ rows: [] }),
    myIdentities: async () => [],
  };
  const pool = await startSandboxPool({ sources: [await readExtensionFile(file)], size: 1, logger: ctx.logger });
  let result: DocResult;
  let later: DocResult | undefined;
  let id: string;
  let declaration: NonNullable<LoadedExtension['declaration']>;
  try {
    const ext = pool.extensions[0];
    if (!ext?.declaration) {
      throw new RaindropError(errorCodes.EXTENSION_INVALID, `${file} cannot run:\n  ${ext?.problems.join('\n  ') ?? 'it did not load'}`);
    }
    id = ext.declaration.id;
    declaration = ext.declaration;
    [result] = (await pool.run(id, [doc], services)) as [DocResult];
    if (result.ok && result.later.length > 0 && ext.declaration.has_later_handler) later = await pool.runLater(id, result.later, services);
  } finally {
    await pool.close();
  }
  const emits = [...(result.ok ? result.emits : []), ...(later?.ok ? later.emits : [])];
  const schemas = await emittedSchemas(resolve(file), declaration.emits, ctx.logger);
  const unknown = [...new Set(emits.map((e) => e.schemaId))].filter((s) => !schemas.compiled.has(s));
  const warnings = [...schemas.problems, ...(await schemaWarnings(ctx, unknown, dirname(resolve(file))))];
  const invalid: string[] = [];
  const printable = emits.map((e) => {
    // The checks the queue makes before storing an output (registry.checkMany).
    const schema = schemas.compiled.get(e.schemaId);
    const failures = !schema ? undefined : declaration.category === 'extender' ? schema.validatePartial(e.fields) : schema.validate(e.fields);
    if (schema && !schema.definition.key_types.includes(e.key[0])) failures?.unshift({ path: '', message: `the key type "${e.key[0]}" is not one of ${JSON.stringify(schema.definition.key_types)}` });
    const problems = failures?.map((f) => `${f.path || '(item)'} ${f.message}`);
    if (problems && problems.length > 0) invalid.push(`${e.schemaId} ${JSON.stringify(e.key)}: ${problems.join('; ')}`);
    return {
      id: e.id,
      key: e.key,
      schema: e.schemaId,
      fields: e.fields,
      valid: problems === undefined ? null : problems.length === 0,
      ...(problems && problems.length > 0 ? { problems } : {}),
      ...(e.deps ? { deps: e.deps } : {}),
      ...(e.attachments ? { attachments: Object.fromEntries(Object.entries(e.attachments).map(([n, a]) => [n, { content_type: a.contentType, length: a.data.byteLength }])) } : {}),
    };
  });
  const failed = !result.ok ? result : later && !later.ok ? later : undefined;
  // A refused schema file of its own: init would refuse the extension, so the run fails.
  const refusedOwn = schemas.problems.length > 0 ? `its schema files are refused (init would refuse the extension): ${schemas.problems.join(' | ')}` : undefined;
  const invalidOutputs = invalid.length > 0 ? `the queue would refuse these outputs: ${invalid.join(' | ')}` : undefined;
  const problem = [refusedOwn, invalidOutputs].filter((p) => p !== undefined).join('; ');
  const failure = failed ?? (problem ? { kind: 'invalid-output', message: problem } : undefined);
  const report = {
    extension: id,
    ok: failure === undefined,
    ...(failure ? { error: { kind: failure.kind, message: failure.message } } : {}),
    emits: printable,
    logs: [...result.logs, ...(later?.logs ?? [])],
    warnings,
  };
  // The emitted items are data: JSON on stdout even without --json.
  ctx.output.data(report, JSON.stringify(report, null, 2));
  return failure ? exitCodes.failure : exitCodes.ok;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (cause) {
    throw new RaindropError(errorCodes.USAGE, `cannot read ${path} as JSON: ${(cause as Error).message}`, { cause });
  }
}

function normalise(value: unknown, file: string): Record<string, unknown> {
  const doc = value as Record<string, unknown>;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.rd_key) || typeof doc.rd_schema_id !== 'string') {
    throw new RaindropError(errorCodes.USAGE, `${file}: each document needs rd_key ([type, value]) and rd_schema_id`);
  }
  return { ...doc, _id: doc._id ?? docIdFor(doc.rd_key as unknown as RdKey, doc.rd_schema_id) };
}

/** Which of these schemas the configured or running database has installed; empty
 * when there is none (a check before any install works on files alone). */
async function installedSchemas(ctx: CommandContext, schemaIds: readonly string[]): Promise<Set<string>> {
  const server = ctx.config.couchUrl !== undefined ? { couch: connectCouch(ctx.config.couchUrl) } : await useRunning(ctx.config.dataDir).catch(() => undefined);
  if (!server || schemaIds.length === 0) return new Set();
  try {
    const db = useDatabase(server.couch, ctx.config.db);
    const ids = schemaIds.map((s) => docIdFor(['schema', s] as RdKey, 'rd.core.schema'));
    const found = await callCouch(server.couch, 'looking up schemas', () => bulkGet(db, ids));
    return new Set(schemaIds.filter((_, i) => found.has(ids[i] as string)));
  } catch {
    return new Set();
  } finally {
    if ('release' in server) await server.release();
  }
}

/** Emitted schemas defined neither next to the file, nor by Raindrop, nor in the database:
 * their outputs are printed but not validated (a warning; "ext check" calls it an error). */
async function schemaWarnings(ctx: CommandContext, schemaIds: string[], dir: string): Promise<string[]> {
  if (schemaIds.length === 0) return [];
  const installed = await installedSchemas(ctx, schemaIds);
  return schemaIds.filter((s) => !installed.has(s)).map((s) => `unknown schema "${s}": its fields are printed but not validated; define it in ${join(dir, `${s}.json`)}`);
}
