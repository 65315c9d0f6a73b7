/**
 * Keeps the search index in step with CouchDB: follows the changes feed from the index's
 * own checkpoint (an opaque seq, only ever handed back), collects the messages whose
 * indexed documents changed, re-reads those messages' documents by computed id, and
 * commits their rows together with the feed position in one SQLite transaction.
 * Re-reading whole messages (rather than applying each change) makes the result
 * independent of the order and grouping of changes, and a batch read twice harmless.
 */
import { docIdFor, parseDocId, silentLogger, type Logger } from '../core/index.js';
import { bulkGet } from '../couch/bulk-get.js';
import { callCouch } from '../couch/connect.js';
import { databaseInfo } from '../couch/database-info.js';
import { followChanges, type ChangesBatch, type ChangesFollower, type Seq } from '../couch/changes-follower.js';
import type { Db } from '../couch/connect.js';
import type { CouchDoc } from '../couch/documents.js';
import type { SearchIndex } from './index-store.js';
import { searchLimits } from './limits.js';
import { indexedSchemas, messageRow, type IndexedSchema, type MessageRow } from './message-row.js';

const indexed = new Set<string>(indexedSchemas);

/** The Message-IDs a batch of changes concerns (ids that are not Raindrop's are skipped). */
export function changedMessages(batch: ChangesBatch): Set<string> {
  const out = new Set<string>();
  for (const row of batch.rows) {
    if (!row.id.startsWith('rc!email.')) continue;
    try {
      const { key, schemaId } = parseDocId(row.id);
      if (indexed.has(schemaId) && typeof key[1] === 'string') out.add(key[1]);
    } catch {
      // Not an id Raindrop computed: nothing to index.
    }
  }
  return out;
}

/** The current rows of these messages, read from CouchDB (undefined: not indexable).
 * `known`: documents by id already in hand (from the feed, with include_docs: the
 * current revision, or null for a deleted one); only the others are read. */
export async function readRows(db: Db, messageIds: readonly string[], known: ReadonlyMap<string, CouchDoc | null> = new Map()): Promise<Map<string, MessageRow | undefined>> {
  const rows = new Map<string, MessageRow | undefined>();
  for (let i = 0; i < messageIds.length; i += searchLimits.indexBatchMessages) {
    const chunk = messageIds.slice(i, i + searchLimits.indexBatchMessages);
    const ids = chunk.flatMap((m) => indexedSchemas.map((s) => docIdFor(['email', m], s))).filter((id) => !known.has(id));
    const docs = await bulkGet(db, ids);
    for (const m of chunk) {
      const mine = new Map<IndexedSchema, CouchDoc>();
      for (const s of indexedSchemas) {
        const id = docIdFor(['email', m], s);
        const doc = known.has(id) ? known.get(id) : docs.get(id);
        if (doc) mine.set(s, doc);
      }
      rows.set(m, messageRow(m, mine));
    }
  }
  return rows;
}

export interface IndexerOptions {
  db: Db;
  index: SearchIndex;
  logger?: Logger;
  /** Changes per batch (one SQLite transaction each); default searchLimits.changesBatch. */
  batchSize?: number;
  /** Documents per page of a build scan; default searchLimits.buildPageDocs. */
  buildPageDocs?: number;
  /** Called after each committed batch (tests, progress). */
  onCommit?: (info: { messages: number; checkpoint: Seq }) => void;
}

async function applyBatch(options: IndexerOptions, batch: ChangesBatch): Promise<void> {
  const messages = [...changedMessages(batch)];
  // The feed brings the changed documents themselves (include_docs): on a build most of a
  // message's documents arrive together, and only the rest are read by id.
  const known = new Map<string, CouchDoc | null>();
  for (const row of batch.rows) if (row.id.startsWith('rc!email.')) known.set(row.id, row.deleted ? null : row.doc ?? null);
  const rows = messages.length > 0 ? await readRows(options.db, messages, known) : new Map<string, MessageRow | undefined>();
  options.index.commit(rows, batch.lastSeq);
  options.onCommit?.({ messages: messages.length, checkpoint: batch.lastSeq });
}

function follow(options: IndexerOptions, until: 'head' | 'forever'): ChangesFollower {
  const since = options.index.checkpoint();
  return followChanges(options.db, {
    ...(since === undefined ? {} : { since }),
    until,
    includeDocs: true,
    batchSize: options.batchSize ?? searchLimits.changesBatch,
    logger: options.logger ?? silentLogger,
    onBatch: (batch) => applyBatch(options, batch),
  });
}

/**
 * A build from an empty index: rather than replay the whole feed (where each message's
 * documents are spread over many batches and would be re-read many times), read every
 * ["email", ...] document once in id order, where a message's documents sit together
 * (`_all_docs`, pages of searchLimits.buildPageDocs). The feed position is taken first,
 * so whatever changes during the scan is replayed from there afterwards (rows are
 * replaced, so twice is harmless). Each page's rows and the scan's cursor are committed
 * together: a killed build resumes after the last committed message.
 */
async function buildByScan(options: IndexerOptions): Promise<number> {
  const cursor = options.index.buildCursor() ?? { since: (await databaseInfo(options.db))?.updateSeq ?? 0, after: null };
  let after = cursor.after;
  const pageDocs = options.buildPageDocs ?? searchLimits.buildPageDocs;
  let messages = 0;
  let pending: { messageId: string; docs: Map<IndexedSchema, CouchDoc> } | undefined;
  const rowOf = (p: NonNullable<typeof pending>) => messageRow(p.messageId, p.docs);
  type Page = { rows: Array<{ id: string; doc?: CouchDoc | null }> };
  const fetchPage = (from: string | null): Promise<Page> => {
    const p = callCouch(options.db.couch, `reading the messages of "${options.db.name}"`, () =>
      options.db.couch.server.request({
        db: options.db.name,
        path: '_all_docs',
        qs: { include_docs: true, limit: pageDocs, startkey: from === null ? 'rc!email.' : `${from}\u0000`, endkey: 'rc!email.\ufff0' },
      }),
    ) as Promise<Page>;
    // Awaited on the next turn; if this build stops first (a commit failed), its failure
    // is not an unhandled rejection.
    p.catch(() => undefined);
    return p;
  };
  // The next page is requested before this one is committed: the server reads it while
  // SQLite writes (a fifth of a build's time), and a kill -9 in between loses only a read.
  let next = fetchPage(after);
  for (;;) {
    const page = await next;
    const rows = new Map<string, MessageRow | undefined>();
    let lastComplete: string | null;
    for (const row of page.rows) {
      let parsed: ReturnType<typeof parseDocId>;
      try {
        parsed = parseDocId(row.id);
      } catch {
        continue;
      }
      const messageId = parsed.key[1];
      if (typeof messageId !== 'string') continue;
      if (pending && pending.messageId !== messageId) {
        rows.set(pending.messageId, rowOf(pending));
        pending = undefined;
      }
      if (!pending) pending = { messageId, docs: new Map() };
      if (indexed.has(parsed.schemaId) && row.doc) pending.docs.set(parsed.schemaId as IndexedSchema, row.doc);
    }
    const last = page.rows[page.rows.length - 1]?.id;
    const done = page.rows.length < pageDocs;
    if (done && pending) {
      rows.set(pending.messageId, rowOf(pending));
      pending = undefined;
    }
    // The pending message (it may continue on the next page) is committed with the next
    // page; the cursor is the last id before it.
    if (pending) {
      const firstOfPending = page.rows.findIndex((r) => { try { return parseDocId(r.id).key[1] === pending!.messageId; } catch { return false; } });
      lastComplete = firstOfPending > 0 ? page.rows[firstOfPending - 1]!.id : after;
      if (firstOfPending <= 0) {
        // One message filled the whole page: keep reading without committing.
        after = last ?? after;
        next = fetchPage(after);
        continue;
      }
    } else lastComplete = last ?? after;
    if (!done) next = fetchPage(lastComplete);
    options.index.commit(rows, done ? cursor.since : { build: { since: cursor.since, after: lastComplete } });
    messages += rows.size;
    options.onCommit?.({ messages: rows.size, checkpoint: cursor.since });
    if (done) return messages;
    after = lastComplete;
    // Re-read the pending message's documents on the next page, from its first one.
    pending = undefined;
  }
}

/** Brings the index up to the head of the feed and returns how many messages it wrote. */
export async function catchUp(options: IndexerOptions): Promise<number> {
  let messages = options.index.checkpoint() === undefined ? await buildByScan(options) : 0;
  const follower = follow({ ...options, onCommit: (info) => { messages += info.messages; options.onCommit?.(info); } }, 'head');
  await follower.done;
  return messages;
}

/** Follows the feed until stopped: what serve runs. */
export async function indexUntilStopped(options: IndexerOptions, stop: Promise<void>): Promise<void> {
  const follower = follow(options, 'forever');
  void stop.then(() => follower.stop());
  await follower.done;
}
