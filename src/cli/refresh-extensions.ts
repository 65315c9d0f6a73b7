import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, docIdFor, sha256Hex } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import type { Db } from '../couch/connect.js';
import { readExtensionDirs } from '../sandbox/read-extension-dirs.js';
import { SchemaRegistry, definitionOf, schemaSchemaId } from '../schema/registry.js';
import type { CommandContext } from './command.js';
import { type ExtensionInstallReport, extensionDirs, installExtensions, installedExtensions, recordedDirectories } from './install-extensions.js';

/** The user's directories in force: given now (flags, environment, config) or recorded. */
export async function userExtensionDirs(ctx: CommandContext, db: Db): Promise<string[]> {
  return [...new Set([...ctx.config.extensions, ...recordedDirectories(await installedExtensions(db))])];
}

/**
 * Whether a user directory differs from what is installed: a new, edited or renamed
 * `.js` file, or an edited schema file of an installed extension. Cheap (files and a few
 * documents by id), so `process` can look every time before it starts the sandbox.
 */
async function userDirsChanged(db: Db, dirs: readonly string[]): Promise<boolean> {
  const stored = (await installedExtensions(db)).filter((d) => typeof d.directory === 'string');
  const byFile = new Map(stored.map((d) => [join(String(d.directory), String(d.file)), d]));
  let sources;
  try {
    sources = await readExtensionDirs(dirs);
  } catch {
    return true; // a directory went missing: let the install say so
  }
  if (sources.some((s) => byFile.get(s.origin)?.code_hash !== sha256Hex(s.code))) return true;
  const schemaFiles = stored.flatMap((d) => ((d.schemas as string[] | undefined) ?? []).map((id) => ({ id, file: join(String(d.directory), `${id}.json`) })));
  const docs = await bulkGet(db, schemaFiles.map((s) => docIdFor(['schema', s.id], schemaSchemaId)));
  for (const { id, file } of schemaFiles) {
    const doc = docs.get(docIdFor(['schema', id], schemaSchemaId));
    let onDisk: unknown;
    try {
      onDisk = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      return true;
    }
    if (!doc || canonicalJson(onDisk as never) !== canonicalJson(definitionOf(doc) as never)) return true;
  }
  return false;
}

/**
 * Re-installs the user's extension directories when something in them changed, so an
 * edit is picked up by `process`, `process --watch` and `serve` with no manual step (the
 * queue then replays the edited extension). Returns the report, or undefined when
 * nothing changed.
 */
export async function refreshUserExtensions(ctx: CommandContext, db: Db, force = false): Promise<ExtensionInstallReport | undefined> {
  const dirs = await userExtensionDirs(ctx, db);
  if (dirs.length === 0 || (!force && !(await userDirsChanged(db, dirs)))) return undefined;
  const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
  try {
    const report = await installExtensions(registry, db, extensionDirs(ctx.config.extensions), ctx.logger);
    const changed = report.installed.filter((e) => e.written && e.directory !== null);
    if (changed.length > 0) ctx.logger.info(`re-installed ${changed.map((e) => e.id).join(', ')} from ${[...new Set(changed.map((e) => e.directory))].join(', ')}; the queue derives again what changed`);
    for (const s of report.schemas.installed.filter((x) => x.written)) ctx.logger.info(`installed schema ${s.id} v${s.version}`);
    for (const r of report.refused) ctx.logger.error(`${r.origin} is refused (the installed version, if any, keeps running):\n  ${r.problems.join('\n  ')}`);
    return report;
  } finally {
    await registry.close();
  }
}
