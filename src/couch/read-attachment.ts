import { type Db, callCouch } from './connect.js';
import { statusOf } from './couch-error.js';

/** The bytes of one attachment, or undefined when the document or attachment is absent. */
export async function readAttachment(db: Db, id: string, name: string): Promise<Buffer | undefined> {
  return callCouch(db.couch, `reading attachment "${name}" of ${id}`, async () => {
    try {
      return await db.scope.attachment.get(id, name);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  });
}
