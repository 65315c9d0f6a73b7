import { readFile } from 'node:fs/promises';
import { RaindropError, docIdFor, errorCodes, type RdKey } from '../../core/index.js';
import { bulkGet } from '../../couch/bulk-get.js';
import { callCouch, connectCouch, useDatabase } from '../../couch/connect.js';
import { useRunning } from '../../couch/open-server.js';
import { startSandboxPool } from '../../sandbox/pool.js';
import { readExtensionFile } from '../../sandbox/read-extension-dirs.js';
import type { DocResult, HostServices } from '../../sandbox/types.js';
import type { Command, CommandContext, OptionValues } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { installedExtensionIds } from '../install-extensions.js';
import { openDatabase } from '../open-database.js';

export const extCommand: Command = {
  name: 'ext',
  summary: 'list, check and try extensions',
  help: `Usage:
  raindrop ext list [--json]
  raindrop ext check FILE... [--json]
  raindrop ext run FILE --doc DOC.json [--open FIXTURES.json]
                   [--attachment NAME=FILE]... [--json]

list   the extensions installed in the database (by "raindrop init"): id, source
       schemas, emitted schemas, code hash, enabled.
check  loads each file in the sandbox and reports what is wrong with its declaration
       or code (exit code 9 when something is).
run    runs the handler on one document and prints what it would emit, as JSON.
       Nothing is written. --open gives the documents rd.open may find (a JSON array of
       documents with rd_key and rd_schema_id); --attachment gives the bytes
       rd.attachment(doc, NAME) returns for DOC. Emitted schemas are checked against the
       database when one is configured or running; unknown ones are warnings.

Examples:
  raindrop ext check extensions/examples/subject-words.js
  raindrop ext run my-ext.js --doc message.json --open related.json
  raindrop ext run extensions/email.js --doc raw.json --attachment rd.fetch/rfc822=message.eml`,
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
      default:
        throw new RaindropError(errorCodes.USAGE, `"raindrop ext" needs list, check or run; got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
    }
  },
};

async function listExtensions(ctx: CommandContext): Promise<number> {
  const { server, db } = await openDatabase(ctx);
  try {
    const docs = await bulkGet(db, await installedExtensionIds(db));
    const rows = [...docs.values()].map((d) => ({
      id: d.id as string,
      source_schemas: d.source_schemas as string[],
      emits: d.emits as string[],
      category: d.category as string,
      code_hash: d.code_hash as string,
      enabled: d.enabled !== false,
      file: d.file as string,
    }));
    ctx.output.data(
      { extensions: rows },
      rows.length === 0
        ? 'no extensions installed; run "raindrop init"'
        : rows.map((r) => `${r.enabled ? ' ' : '-'} ${r.id}  ${r.source_schemas.join(',')} -> ${r.emits.join(',') || '(nothing)'}  ${r.code_hash.slice(0, 12)}  ${r.file}`).join('\n'),
    );
    return exitCodes.ok;
  } finally {
    await server.release();
  }
}

async function checkFiles(ctx: CommandContext, files: string[]): Promise<number> {
  if (files.length === 0) throw new RaindropError(errorCodes.USAGE, 'raindrop ext check needs at least one FILE');
  const results = [];
  for (const file of files) {
    const source = await readExtensionFile(file);
    const pool = await startSandboxPool({ sources: [source], size: 1, logger: ctx.logger });
    try {
      results.push(...pool.extensions);
    } finally {
      await pool.close();
    }
  }
  const ok = results.every((r) => r.problems.length === 0);
  ctx.output.data(
    { ok, extensions: results },
    results
      .map((r) => (r.problems.length === 0 ? `ok   ${r.origin}: ${r.declaration?.id} (${r.declaration?.source_schemas.join(', ')} -> ${r.declaration?.emits.join(', ')})` : `FAIL ${r.origin}:\n  ${r.problems.join('\n  ')}`))
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
  try {
    const ext = pool.extensions[0];
    if (!ext?.declaration) {
      throw new RaindropError(errorCodes.EXTENSION_INVALID, `${file} cannot run:\n  ${ext?.problems.join('\n  ') ?? 'it did not load'}`);
    }
    id = ext.declaration.id;
    [result] = (await pool.run(id, [doc], services)) as [DocResult];
    if (result.ok && result.later.length > 0 && ext.declaration.has_later_handler) later = await pool.runLater(id, result.later, services);
  } finally {
    await pool.close();
  }
  const emits = [...(result.ok ? result.emits : []), ...(later?.ok ? later.emits : [])];
  const warnings = await schemaWarnings(ctx, [...new Set(emits.map((e) => e.schemaId))]);
  const printable = emits.map((e) => ({
    id: e.id,
    key: e.key,
    schema: e.schemaId,
    fields: e.fields,
    ...(e.deps ? { deps: e.deps } : {}),
    ...(e.attachments ? { attachments: Object.fromEntries(Object.entries(e.attachments).map(([n, a]) => [n, { content_type: a.contentType, length: a.data.byteLength }])) } : {}),
  }));
  const failure = !result.ok ? result : later && !later.ok ? later : undefined;
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

/** Which emitted schemas the database does not know; a warning, never a failure. */
async function schemaWarnings(ctx: CommandContext, schemaIds: string[]): Promise<string[]> {
  if (schemaIds.length === 0) return [];
  const server = ctx.config.couchUrl !== undefined ? { couch: connectCouch(ctx.config.couchUrl) } : await useRunning(ctx.config.dataDir).catch(() => undefined);
  if (!server) return ['no database is configured or running: emitted schemas were not checked'];
  try {
    const db = useDatabase(server.couch, ctx.config.db);
    const ids = schemaIds.map((s) => docIdFor(['schema', s] as RdKey, 'rd.core.schema'));
    const found = await callCouch(server.couch, 'looking up schemas', () => bulkGet(db, ids));
    return schemaIds.filter((_, i) => !found.has(ids[i] as string)).map((s) => `unknown schema "${s}": its fields are printed but not validated`);
  } catch (err) {
    return [`could not check schemas: ${(err as Error).message}`];
  }
}
