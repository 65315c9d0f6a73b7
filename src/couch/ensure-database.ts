import { type Couch, type Db, callCouch, useDatabase } from './connect.js';
import { statusOf } from './couch-error.js';

/** Creates the database unless it exists. Safe to call from several processes at once:
 * a 412 (created meanwhile) is the same outcome as success. */
export async function ensureDatabase(couch: Couch, name: string): Promise<{ db: Db; created: boolean }> {
  const db = useDatabase(couch, name);
  const created = await callCouch(couch, `creating database "${name}"`, async () => {
    try {
      await couch.server.db.create(name);
      return true;
    } catch (err) {
      if (statusOf(err) === 412) return false;
      throw err;
    }
  });
  return { db, created };
}

/** Deletes the database; a missing one is not an error. */
export async function destroyDatabase(couch: Couch, name: string): Promise<{ destroyed: boolean }> {
  return callCouch(couch, `deleting database "${name}"`, async () => {
    try {
      await couch.server.db.destroy(name);
      return { destroyed: true };
    } catch (err) {
      if (statusOf(err) === 404) return { destroyed: false };
      throw err;
    }
  });
}
