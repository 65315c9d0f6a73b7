import { type Db, callCouch } from './connect.js';
import { statusOf } from './couch-error.js';

/** The bytes of one attachment, or undefined when the document or attachment is absent.
 * With `rev`, the attachment as it was at that revision (absent once it is gone). */
export async function readAttachment(db: Db, id: string, name: string, rev?: string): Promise<Buffer | undefined> {
  return callCouch(db.couch, `reading attachment "${name}" of ${id}`, async () => {
    try {
      return await (rev === undefined ? db.scope.attachment.get(id, name) : db.scope.attachment.get(id, name, { rev }));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  });
}
