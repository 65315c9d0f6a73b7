import { join } from 'node:path';
import { projectRoot } from '../core/entry-points.js';
import type { Couch } from '../couch/connect.js';
import { ensureDatabase } from '../couch/ensure-database.js';
import { pushDesignDocs, readShippedDesignDocs } from '../couch/push-design-docs.js';
import { pushApp, readAppFiles } from '../couch/push-app.js';
import type { Logger } from '../core/index.js';
import { type ExtensionInstallReport, extensionDirs, installExtensions } from './install-extensions.js';
import { type SchemaInstallReport, builtInSchemaDir, installSchemas } from './install-schemas.js';
import { SchemaRegistry } from '../schema/registry.js';

export interface InstallReport {
  db: string;
  created: boolean;
  designDocs: { written: string[]; unchanged: string[] };
  /** Whether the web app's design document (_design/rd_app) was (re)written. */
  app: { written: boolean };
  schemas: SchemaInstallReport;
  extensions: ExtensionInstallReport;
}

/**
 * Creates the database and installs what the project ships: design docs, schemas, and
 * the built-in and configured extensions. Idempotent: a second run writes nothing.
 */
export async function installDatabase(couch: Couch, dbName: string, userExtensionDirs: readonly string[] = [], logger?: Logger): Promise<InstallReport> {
  const { db, created } = await ensureDatabase(couch, dbName);
  const designDocs = await pushDesignDocs(db, await readShippedDesignDocs());
  const app = await pushApp(db, await readAppFiles(join(projectRoot, 'dist', 'couchapp', 'app')));
  const schemas = await installSchemas(db, builtInSchemaDir(), logger);
  const registry = await SchemaRegistry.load(db, logger ? { logger } : {});
  try {
    const extensions = await installExtensions(registry, db, extensionDirs(userExtensionDirs), logger);
    return { db: dbName, created, designDocs, app, schemas, extensions };
  } finally {
    await registry.close();
  }
}
