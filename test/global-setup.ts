/**
 * One CouchDB for the whole run: an embedded server in a temporary data directory, or,
 * when RAINDROP_TEST_COUCH_URL names a real CouchDB 3.x (credentials in the URL), that
 * server. Test files get it with `inject('couch')` and create their own databases.
 * This is the only test file that reads the environment.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { corpusDirSetting } from '../src/config/index.js';
import { startEmbeddedServer } from '../src/couch/embedded/index.js';
import { readShippedDesignDocs } from '../src/couch/push-design-docs.js';

export interface TestCouch {
  /** Without credentials. */
  url: string;
  username: string;
  password: string;
  /** False when the suite runs against a real CouchDB. */
  embedded: boolean;
}

declare module 'vitest' {
  export interface ProvidedContext {
    couch: TestCouch;
    /** The real-mail corpora (archives and README, see ../shared/corpus/README.md):
     * RAINDROP_CORPUS_DIR, default the project's sibling ../shared/corpus. */
    corpusDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  project.provide('corpusDir', corpusDirSetting());
  // The sandbox project uses this file for its settings only: it needs no CouchDB.
  if (project.name === 'sandbox') return async () => undefined;
  const external = process.env.RAINDROP_TEST_COUCH_URL;
  if (external) {
    const parsed = new URL(external);
    const username = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    parsed.username = '';
    parsed.password = '';
    project.provide('couch', { url: parsed.origin + parsed.pathname.replace(/\/$/, ''), username, password, embedded: false });
    return async () => undefined;
  }

  const dataDir = await mkdtemp(join(tmpdir(), 'raindrop-test-'));
  const server = await startEmbeddedServer({ dataDir, owner: 'command', trustedDesignDocs: await readShippedDesignDocs() }).catch(async (error: unknown) => {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  });
  project.provide('couch', { url: server.url, ...server.credentials, embedded: true });
  return async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
