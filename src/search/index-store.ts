/**
 * The search index file: one SQLite database in the data directory, holding a row per
 * message (filters and what a result shows), an FTS5 table of its text (rowid = the
 * message row's id) and the changes-feed checkpoint. Rows and checkpoint are written in
 * one transaction, so after a kill -9 the index is exactly as of some checkpoint: the
 * batch after it is simply read again (rows are replaced by Message-ID, never added twice).
 * Derived state: deleting the file loses nothing; it is rebuilt from CouchDB.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { RaindropError, errorCodes } from '../core/index.js';
import type { Seq } from '../couch/changes-follower.js';
import { searchLimits } from './limits.js';
import type { MessageRow } from './message-row.js';
import { openSqlite, type SqliteDatabase } from './sqlite.js';

/** Bumped when the tables or what goes into them change: an index of another format is
 * dropped and rebuilt. */
const indexFormat = '1';

/** FTS5 column order; bm25 weights below follow it. */
export const ftsColumns = ['subject', 'body', 'quoted', 'sender', 'to_', 'cc_', 'filename', 'list'] as const;
/** The tokenizer and prefix indexes of the text table (and of the snippet copy in run-query.ts). */
export const ftsOptions = "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'";
/** Subject and sender weigh most, the sender's own words more than what they quote. */
export const bm25Weights = [8, 4, 1, 4, 2, 2, 3, 1] as const;

const schemaSql = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  message_id TEXT NOT NULL UNIQUE,
  conversation_id TEXT NOT NULL,
  timestamp REAL,
  subject TEXT NOT NULL,
  from_name TEXT NOT NULL,
  from_address TEXT NOT NULL,
  grouping TEXT,
  list_id TEXT,
  has_attachment INTEGER NOT NULL,
  seen INTEGER NOT NULL,
  flagged INTEGER NOT NULL,
  archived INTEGER NOT NULL,
  deleted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id);
CREATE INDEX IF NOT EXISTS messages_timestamp ON messages (timestamp);
CREATE VIRTUAL TABLE IF NOT EXISTS text USING fts5 (${ftsColumns.join(', ')}, ${ftsOptions});
`;

export class SearchIndex {
  readonly path: string;
  readonly binding: string;
  readonly db: SqliteDatabase;
  private closed = false;

  private constructor(path: string, db: SqliteDatabase, binding: string) {
    this.path = path;
    this.db = db;
    this.binding = binding;
  }

  /** Opens (creating) the index at path; an index of another format is emptied. */
  static open(path: string): SearchIndex {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const { db, binding } = openSqlite(path);
    try {
      db.exec(`PRAGMA busy_timeout = ${searchLimits.busyTimeoutMs}`);
      // WAL: readers (queries) never wait for the indexer. synchronous=NORMAL keeps every
      // committed transaction across a process kill (not across a power cut, which at
      // worst loses the last batches: they are re-read from CouchDB from the checkpoint).
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(schemaSql);
        const format = (db.prepare('SELECT value FROM meta WHERE key = ?').get('format') as { value: string } | undefined)?.value;
        if (format !== indexFormat) {
          db.exec('DELETE FROM messages; DELETE FROM text; DELETE FROM meta;');
          db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('format', indexFormat);
        }
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    } catch (err) {
      db.close();
      throw new RaindropError(errorCodes.SEARCH_UNAVAILABLE, `the search index ${path} cannot be opened: ${(err as Error).message}; delete the file and run "raindrop search --rebuild"`, { cause: err });
    }
    return new SearchIndex(path, db, binding);
  }

  /** Where the indexer resumes on the changes feed, or undefined for the beginning. */
  checkpoint(): Seq | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('checkpoint') as { value: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as Seq);
  }

  /** Where an interrupted build scan resumes (see indexer.ts), or undefined. */
  buildCursor(): { since: Seq; after: string | null } | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('build') as { value: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as { since: Seq; after: string | null });
  }

  /** Replaces the rows of these messages (a message id with no row: removed) and moves
   * the checkpoint (or, during a build scan, the build cursor; the build's end sets the
   * checkpoint and drops the cursor), all in one transaction. */
  commit(rows: ReadonlyMap<string, MessageRow | undefined>, checkpoint: Seq | { build: { since: Seq; after: string | null } }): void {
    const db = this.db;
    const find = db.prepare('SELECT id FROM messages WHERE message_id = ?');
    const delMsg = db.prepare('DELETE FROM messages WHERE id = ?');
    const delText = db.prepare('DELETE FROM text WHERE rowid = ?');
    const insMsg = db.prepare(`INSERT INTO messages (message_id, conversation_id, timestamp, subject, from_name, from_address, grouping, list_id, has_attachment, seen, flagged, archived, deleted)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`);
    const insText = db.prepare(`INSERT INTO text (rowid, ${ftsColumns.join(', ')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const setMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    db.exec('BEGIN IMMEDIATE');
    try {
      for (const [messageId, row] of rows) {
        const old = find.get(messageId) as { id: number | bigint } | undefined;
        if (old) {
          delText.run(old.id);
          delMsg.run(old.id);
        }
        if (!row) continue;
        const b = (v: boolean) => (v ? 1 : 0);
        const { id } = insMsg.get(row.messageId, row.conversationId, row.timestamp, row.subject, row.fromName, row.fromAddress, row.grouping, row.listId, b(row.hasAttachment), b(row.seen), b(row.flagged), b(row.archived), b(row.deleted)) as { id: number | bigint };
        const t = row.text;
        insText.run(id, t.subject, t.body, t.quoted, t.sender, t.to, t.cc, t.filename, t.list);
      }
      if (typeof checkpoint === 'object') setMeta.run('build', JSON.stringify(checkpoint.build));
      else {
        setMeta.run('checkpoint', JSON.stringify(checkpoint));
        db.prepare('DELETE FROM meta WHERE key = ?').run('build');
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Empties the index (rows and checkpoint), for a rebuild from the beginning. */
  clear(): void {
    this.db.exec('BEGIN IMMEDIATE; DELETE FROM messages; DELETE FROM text; DELETE FROM meta WHERE key IN (\'checkpoint\', \'build\'); COMMIT;');
  }

  count(): number {
    return Number((this.db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number | bigint }).n);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
