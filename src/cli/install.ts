import { join } from 'node:path';
import { projectRoot } from '../core/entry-points.js';
import type { Couch } from '../couch/connect.js';
import { ensureDatabase } from '../couch/ensure-database.js';
import { pushDesignDocs, readDesignDocs } from '../couch/push-design-docs.js';

export interface InstallReport {
  db: string;
  created: boolean;
  designDocs: { written: string[]; unchanged: string[] };
}

/**
 * Creates the database and installs what the project ships (design docs now; schemas
 * and extensions with later issues). Idempotent: a second run writes nothing.
 */
export async function installDatabase(couch: Couch, dbName: string): Promise<InstallReport> {
  const { db, created } = await ensureDatabase(couch, dbName);
  const designDocs = await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  return { db: dbName, created, designDocs };
}
