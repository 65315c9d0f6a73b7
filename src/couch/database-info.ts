import { type Db, callCouch } from './connect.js';
import { statusOf } from './couch-error.js';

export interface DatabaseInfo {
  name: string;
  docCount: number;
  deletedDocCount: number;
  /** Opaque: never compare or do arithmetic on it. */
  updateSeq: string | number;
}

/** `GET /db`, or undefined when the database does not exist. */
export async function databaseInfo(db: Db): Promise<DatabaseInfo | undefined> {
  return callCouch(db.couch, `reading info of database "${db.name}"`, async () => {
    try {
      const info = await db.couch.server.db.get(db.name);
      return {
        name: db.name,
        docCount: info.doc_count,
        deletedDocCount: info.doc_del_count ?? 0,
        updateSeq: info.update_seq as string | number,
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  });
}
