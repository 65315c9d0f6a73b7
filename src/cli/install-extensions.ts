import { access } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { projectRoot } from '../core/entry-points.js';
import { type Logger, silentLogger } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import { listByKeyType } from '../couch/list-by-key-type.js';
import { removeSchemaItem } from '../couch/schema-items/write-schema-item.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { writeValidatedItem } from '../schema/validated-write.js';
import { startSandboxPool } from '../sandbox/pool.js';
import { readExtensionDirs } from '../sandbox/read-extension-dirs.js';
import type { LoadedExtension } from '../sandbox/types.js';
import { builtInSchemaIds, missingSchemaProblem, readOwnSchemaFiles } from './extension-schemas.js';
import { type SchemaInstallReport, builtInMetaSchema, installSchemaDefinitions } from './install-schemas.js';

export const extensionSchemaId = 'rd.ext.workqueue';
const writer = 'core.init';

export interface ExtensionInstallReport {
  installed: Array<{ id: string; codeHash: string; written: boolean; directory: string | null }>;
  refused: Array<{ origin: string; problems: string[] }>;
  /** Document ids of built-in extensions Raindrop no longer ships. */
  removed: string[];
  /** Installed extensions left as they are: their file is gone or its new version is
   * refused; they keep running their stored code until "raindrop ext remove". */
  kept: Array<{ id: string; file: string; reason: string }>;
  /** The schemas of the user's extensions, from their directories. */
  schemas: SchemaInstallReport;
  /** The user's extension directories now installed (recorded in the database). */
  directories: string[];
}

export const builtInExtensionDir = () => join(projectRoot, 'extensions');

/** The built-in extension directory, then the user's. */
export function extensionDirs(userDirs: readonly string[]): string[] {
  return [builtInExtensionDir(), ...userDirs];
}

/** Loads every extension in the sandbox to check it; the pool is closed afterwards. */
export async function checkExtensions(dirs: readonly string[], logger?: Logger): Promise<LoadedExtension[]> {
  const sources = await readExtensionDirs(dirs);
  if (sources.length === 0) return [];
  const pool = await startSandboxPool({ sources, size: 1, ...(logger ? { logger } : {}) });
  try {
    return [...pool.extensions];
  } finally {
    await pool.close();
  }
}

/** The installed extension documents. */
export async function installedExtensions(db: Db): Promise<CouchDoc[]> {
  return listByKeyType(db, 'ext', extensionSchemaId);
}

export async function installedExtensionIds(db: Db): Promise<string[]> {
  return (await installedExtensions(db)).map((d) => d._id);
}

/** The user's extension directories the database records (each installed extension
 * from a directory names it), so a plain "raindrop init" or "serve" keeps them. */
export function recordedDirectories(docs: readonly CouchDoc[]): string[] {
  return [...new Set(docs.map((d) => d.directory).filter((d): d is string => typeof d === 'string'))];
}

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * Stores each valid extension as an `rd.ext.workqueue` document (declaration, code, and
 * the directory it came from), with the schemas its directory defines. `dirs` is the
 * built-in directory and the directories given now (flags, config); the directories the
 * database already records are read too, so an installed extension stays installed and
 * picks up edits. Given directories come first: an extension id found there replaces
 * the one recorded elsewhere (a moved directory). Broken files are refused and reported;
 * an installed user extension whose file is gone or broken stays as it is (removal is
 * explicit: "raindrop ext remove"); built-ins no longer shipped are removed.
 */
export async function installExtensions(registry: SchemaRegistry, db: Db, dirs: readonly string[], logger: Logger = silentLogger): Promise<ExtensionInstallReport> {
  const builtInDir = builtInExtensionDir();
  const stored = await installedExtensions(db);
  const given = [...new Set(dirs.map((d) => resolve(d)))];
  const recordedOnly: string[] = [];
  for (const dir of recordedDirectories(stored)) {
    if (given.includes(dir)) continue;
    if (await exists(dir)) recordedOnly.push(dir);
    else logger.warn(`the extension directory ${dir} is gone; its extensions stay installed with their stored code ("raindrop ext remove ID" removes one)`);
  }
  const loaded = await checkExtensions([...given, ...recordedOnly], logger);
  const sources = new Map((await readExtensionDirs([...given, ...recordedOnly])).map((s) => [s.origin, s.code]));
  const report: ExtensionInstallReport = { installed: [], refused: [], removed: [], kept: [], schemas: { installed: [], refused: [] }, directories: [] };

  // A recorded directory's copy of an id that a given directory provides is shadowed, not broken.
  const usable = loaded.filter((ext) => {
    if (ext.declaration) return true;
    if (recordedOnly.includes(dirname(ext.origin)) && ext.problems.some((p) => p.includes('is already used by'))) return false;
    report.refused.push({ origin: ext.origin, problems: ext.problems });
    return false;
  }) as Array<LoadedExtension & { declaration: NonNullable<LoadedExtension['declaration']> }>;

  // Each user directory's own schemas: the files named after what its extensions emit.
  const builtInIds = await builtInSchemaIds();
  const ownSchemas = new Map<string, string[]>(); // extension id -> schema ids from its directory
  const problemsOf = new Map<string, string[]>(); // origin -> problems
  const definitions = [];
  const userDirs = [...new Set(usable.map((e) => dirname(e.origin)).filter((d) => d !== builtInDir))];
  const fromFiles = new Set<string>();
  for (const dir of userDirs) {
    const inDir = usable.filter((e) => dirname(e.origin) === dir);
    const own = await readOwnSchemaFiles(dir, inDir.flatMap((e) => e.declaration.emits), builtInIds);
    report.schemas.refused.push(...own.refused);
    definitions.push(...own.definitions);
    for (const d of own.definitions) fromFiles.add(d.id);
    for (const ext of inDir) {
      ownSchemas.set(ext.declaration.id, ext.declaration.emits.filter((s) => own.definitions.some((d) => d.id === s)));
      const refusedOwn = own.refused.filter((r) => ext.declaration.emits.includes(r.id));
      if (refusedOwn.length > 0) problemsOf.set(ext.origin, refusedOwn.map((r) => `its schema ${r.id} is refused: ${r.problems.join('; ')}`));
    }
  }
  if (definitions.length > 0) {
    const schemas = await installSchemaDefinitions(db, definitions, await builtInMetaSchema(), logger);
    report.schemas.installed.push(...schemas.installed);
    report.schemas.refused.push(...schemas.refused);
    for (const s of schemas.installed) {
      const def = definitions.find((d) => d.id === s.id);
      if (def) registry.accept(def);
    }
    for (const r of schemas.refused) {
      for (const ext of usable.filter((e) => e.declaration.emits.includes(r.id))) {
        problemsOf.set(ext.origin, [...(problemsOf.get(ext.origin) ?? []), `its schema ${r.id} is refused: ${r.problems.join('; ')}`]);
      }
    }
  }
  // An emitted schema must be defined somewhere: shipped, in the directory, or already installed.
  for (const ext of usable) {
    const dir = dirname(ext.origin);
    const missing = ext.declaration.emits.filter((s) => !builtInIds.has(s) && !fromFiles.has(s) && !registry.get(s));
    if (missing.length > 0) problemsOf.set(ext.origin, [...(problemsOf.get(ext.origin) ?? []), ...missing.map((s) => missingSchemaProblem(dir, s))]);
  }

  const storedById = new Map(stored.map((d) => [String(d.id), d]));
  const keep = new Set<string>();
  for (const ext of usable) {
    const decl = ext.declaration;
    const problems = problemsOf.get(ext.origin);
    if (problems) {
      report.refused.push({ origin: ext.origin, problems });
      continue;
    }
    const dir = dirname(ext.origin);
    const previous = storedById.get(decl.id);
    const outcome = await writeValidatedItem(registry, db, {
      key: ['ext', decl.id],
      schemaId: extensionSchemaId,
      writer,
      category: 'provider',
      source: null,
      fields: {
        ...decl,
        code: sources.get(ext.origin) ?? '',
        code_hash: ext.codeHash,
        file: basename(ext.origin),
        // Disabling is the user's choice: a re-install keeps it.
        enabled: previous?.enabled !== false,
        ...(dir === builtInDir ? {} : { directory: dir, schemas: ownSchemas.get(decl.id) ?? [] }),
      },
    });
    keep.add(outcome.id);
    report.installed.push({ id: decl.id, codeHash: ext.codeHash, written: outcome.written, directory: dir === builtInDir ? null : dir });
  }
  for (const doc of stored) {
    if (keep.has(doc._id)) continue;
    if (typeof doc.directory !== 'string') {
      await removeSchemaItem(db, doc._id, writer);
      report.removed.push(doc._id);
      continue;
    }
    const file = join(doc.directory, String(doc.file));
    const reason = !(await exists(file)) ? 'its file is gone' : report.refused.some((r) => r.origin === file) ? 'its file is refused (see above)' : 'its file no longer declares this id';
    report.kept.push({ id: String(doc.id), file, reason });
  }
  report.directories = [...new Set([...report.installed.map((e) => e.directory), ...report.kept.map((k) => dirname(k.file))].filter((d): d is string => d !== null))].sort();
  return report;
}
