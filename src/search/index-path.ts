import { join } from 'node:path';

/** The index file of one database: in the data directory, beside the embedded server's
 * files, one per database name (a --couch server's databases each get their own). */
export function searchIndexPath(dataDir: string, db: string): string {
  return join(dataDir, 'search', `${db.replace(/[^a-z0-9_-]/g, '_')}.sqlite`);
}
