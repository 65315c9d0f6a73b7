import { bulkGet } from '../couch/bulk-get.js';
import type { ChangeRow } from '../couch/changes-follower.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import type { OwnWrites } from './own-writes.js';
import { isBookkeeping } from './provenance.js';

export interface FeedBatchInput {
  /** The rows' documents as they are now, in feed order. */
  docs: CouchDoc[];
  deleted: string[];
  /** Rows passed over unread: echoes of this queue's settled writes. */
  passedOver: number;
}

/**
 * The documents of a feed batch (read without `include_docs`), read in one `_all_docs`
 * request for the rows that can be work: not the queue's bookkeeping (never a source),
 * not the echo of a write of its own that needs nothing more (own-writes.ts). Most rows
 * of a cascade are such echoes (about ten outputs and a bookkeeping document per
 * message), and reading them back whole, to find each one done, was a third of the
 * whole cascade's CPU across the server, the queue and the sandbox.
 */
export async function readFeedRows(db: Db, rows: readonly ChangeRow[], ownWrites: OwnWrites): Promise<FeedBatchInput> {
  const deleted: string[] = [];
  const wanted: string[] = [];
  let passedOver = 0;
  for (const row of rows) {
    if (row.deleted) deleted.push(row.id);
    else if (isBookkeeping(row.id)) continue;
    else if (ownWrites.takeEcho(row.id, row.revs[0])) passedOver++;
    else wanted.push(row.id);
  }
  // A document deleted since its row was read is absent here; its deletion is a later row.
  const found = wanted.length > 0 ? await bulkGet(db, wanted) : new Map<string, CouchDoc>();
  return { docs: wanted.flatMap((id) => found.get(id) ?? []), deleted, passedOver };
}
