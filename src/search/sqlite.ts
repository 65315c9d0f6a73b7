/**
 * The few SQLite calls the search index makes, over whichever binding this Node has:
 * `node:sqlite` (built in from Node 22.13; Node 24 and 26 run it without a flag) or
 * better-sqlite3 (Node 20, which has no node:sqlite). Both are SQLite with FTS5 compiled in
 * and expose the same synchronous exec/prepare/run/all/get shape, so this interface is the
 * common subset, not an abstraction of its own. better-sqlite3 is an optional dependency:
 * it builds from source against the running Node's headers (no prebuilt download here),
 * which Node 26 offline may not be able to do, and there node:sqlite is used anyway.
 */
import { createRequire } from 'node:module';
import { RaindropError, errorCodes } from '../core/index.js';

export type SqlValue = string | number | bigint | null | Uint8Array;

export interface SqliteStatement {
  run(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
  get(...params: SqlValue[]): unknown;
}

export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

type Opener = (path: string) => SqliteDatabase;

const require = createRequire(import.meta.url);
let opener: { open: Opener; binding: string } | undefined;

function findOpener(): { open: Opener; binding: string } {
  if (opener) return opener;
  const failures: string[] = [];
  try {
    // process.getBuiltinModule would avoid require, but Node 20.x before 20.16 lacks it.
    const { DatabaseSync } = require('node:sqlite') as { DatabaseSync: new (path: string) => SqliteDatabase };
    opener = { open: (path) => new DatabaseSync(path), binding: 'node:sqlite' };
    return opener;
  } catch (err) {
    failures.push(`node:sqlite: ${(err as Error).message}`);
  }
  try {
    const Database = require('better-sqlite3') as new (path: string) => SqliteDatabase;
    opener = { open: (path) => new Database(path), binding: 'better-sqlite3' };
    return opener;
  } catch (err) {
    failures.push(`better-sqlite3: ${(err as Error).message}`);
  }
  throw new RaindropError(errorCodes.SEARCH_UNAVAILABLE, `search needs SQLite: this Node (${process.version}) has no node:sqlite and better-sqlite3 is not built; run "npm rebuild better-sqlite3" or use Node 22.13 or later`, { details: { failures } });
}

/** Opens (creating) the SQLite file at path. */
export function openSqlite(path: string): { db: SqliteDatabase; binding: string } {
  const { open, binding } = findOpener();
  return { db: open(path), binding };
}
