import { join } from 'node:path';
import { projectRoot } from '../core/entry-points.js';
import type { Couch } from '../couch/connect.js';
import { ensureDatabase } from '../couch/ensure-database.js';
import { pushDesignDocs, readDesignDocs } from '../couch/push-design-docs.js';
import type { Logger } from '../core/index.js';
import { type ExtensionInstallReport, extensionDirs, installExtensions } from './install-extensions.js';

export interface InstallReport {
  db: string;
  created: boolean;
  designDocs: { written: string[]; unchanged: string[] };
  extensions: ExtensionInstallReport;
}

/**
 * Creates the database and installs what the project ships: design docs and extensions
 * (schemas with a later issue). Idempotent: a second run writes nothing.
 */
export async function installDatabase(couch: Couch, dbName: string, userExtensionDirs: readonly string[] = [], logger?: Logger): Promise<InstallReport> {
  const { db, created } = await ensureDatabase(couch, dbName);
  const designDocs = await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  const extensions = await installExtensions(db, extensionDirs(userExtensionDirs), logger);
  return { db: dbName, created, designDocs, extensions };
}
