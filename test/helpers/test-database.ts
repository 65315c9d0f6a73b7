import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { type Couch, type Db, connectCouch } from '../../src/couch/connect.js';
import { destroyDatabase, ensureDatabase } from '../../src/couch/ensure-database.js';

export interface TestDatabase {
  couch: Couch;
  db: Db;
  /** Login of the test server, for tests that build their own connection. */
  url: string;
  username: string;
  password: string;
  embedded: boolean;
}

/**
 * A fresh database for one test file, on the run's server (the embedded one, or
 * RAINDROP_TEST_COUCH_URL), dropped afterwards. Use the returned object inside tests.
 */
export function useTestDatabase(prefix: string): TestDatabase {
  const handle = {} as TestDatabase;
  beforeAll(async () => {
    const server = inject('couch');
    const couch = connectCouch(server.url, { username: server.username, password: server.password });
    const name = `test_${prefix}_${randomBytes(4).toString('hex')}`;
    const { db } = await ensureDatabase(couch, name);
    Object.assign(handle, { couch, db, url: server.url, username: server.username, password: server.password, embedded: server.embedded });
  });
  afterAll(async () => {
    if (handle.db) await destroyDatabase(handle.couch, handle.db.name);
  });
  return handle;
}
