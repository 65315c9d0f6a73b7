import { basename, join } from 'node:path';
import { projectRoot } from '../core/entry-points.js';
import type { Logger } from '../core/index.js';
import type { Db } from '../couch/connect.js';
import { listByKeyType } from '../couch/list-by-key-type.js';
import { removeSchemaItem } from '../couch/schema-items/write-schema-item.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { writeValidatedItem } from '../schema/validated-write.js';
import { startSandboxPool } from '../sandbox/pool.js';
import { readExtensionDirs } from '../sandbox/read-extension-dirs.js';
import type { LoadedExtension } from '../sandbox/types.js';

export const extensionSchemaId = 'rd.ext.workqueue';
const writer = 'core.init';

export interface ExtensionInstallReport {
  installed: Array<{ id: string; codeHash: string; written: boolean }>;
  refused: Array<{ origin: string; problems: string[] }>;
  removed: string[];
}

/** The built-in extension directory, then the user's. */
export function extensionDirs(userDirs: readonly string[]): string[] {
  return [join(projectRoot, 'extensions'), ...userDirs];
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

/**
 * Stores each valid extension as an `rd.ext.workqueue` document (declaration plus code),
 * so the database describes what processes it. Broken files are refused and reported;
 * extensions no longer present are removed.
 */
export async function installExtensions(registry: SchemaRegistry, db: Db, dirs: readonly string[], logger?: Logger): Promise<ExtensionInstallReport> {
  const loaded = await checkExtensions(dirs, logger);
  const sources = new Map((await readExtensionDirs(dirs)).map((s) => [s.origin, s.code]));
  const report: ExtensionInstallReport = { installed: [], refused: [], removed: [] };
  const keep = new Set<string>();
  for (const ext of loaded) {
    const decl = ext.declaration;
    if (!decl) {
      report.refused.push({ origin: ext.origin, problems: ext.problems });
      continue;
    }
    const outcome = await writeValidatedItem(registry, db, {
      key: ['ext', decl.id],
      schemaId: extensionSchemaId,
      writer,
      category: 'provider',
      source: null,
      fields: { ...decl, code: sources.get(ext.origin) ?? '', code_hash: ext.codeHash, file: basename(ext.origin), enabled: true },
    });
    keep.add(outcome.id);
    report.installed.push({ id: decl.id, codeHash: ext.codeHash, written: outcome.written });
  }
  for (const id of await installedExtensionIds(db)) {
    if (keep.has(id)) continue;
    await removeSchemaItem(db, id, writer);
    report.removed.push(id);
  }
  return report;
}

export async function installedExtensionIds(db: Db): Promise<string[]> {
  return (await listByKeyType(db, 'ext', extensionSchemaId)).map((d) => d._id);
}
