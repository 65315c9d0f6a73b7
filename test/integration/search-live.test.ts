/**
 * The search index as derived state: a build killed with SIGKILL in the middle ends, once
 * resumed, with exactly the rows of a clean build (nothing lost, nothing twice); and under
 * `raindrop serve` a newly imported real message is found, then filtered out when
 * archived and gone when deleted, each within 2 s of its documents being written.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installDatabase } from '../../src/cli/install.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { writeValidatedItem } from '../../src/schema/validated-write.js';
import { SearchIndex } from '../../src/search/index-store.js';
import { catchUp } from '../../src/search/indexer.js';
import type { SearchResult } from '../../src/search/run-query.js';
import { messageFiles, openCorpus, type Corpus } from '../helpers/corpus.js';
import { runQueueOnce } from '../helpers/queue.js';
import { decodeMessage } from '../helpers/search-reference.js';
import { couchUrlWithLogin, serveApp } from '../helpers/serve-app.js';
import { runCli } from '../helpers/run-cli.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('search_live');
let corpus: Corpus;
let registry: SchemaRegistry;
let dir: string;
let files: string[];

beforeAll(async () => {
  await installDatabase(t.couch, t.db.name, [], silentLogger);
  registry = await SchemaRegistry.load(t.db);
  corpus = await openCorpus(inject('corpusDir'));
  files = await messageFiles(await corpus.unpack('cake'));
  const first = await Promise.all(files.slice(0, 80).map(async (f) => ({ bytes: await readFile(f), receivedFrom: 'import:test' })));
  await storeRawMessages(registry, t.db, first);
  await runQueueOnce(t.db, registry, 2);
  dir = await mkdtemp(join(tmpdir(), 'raindrop-search-live-'));
}, 600_000);

afterAll(async () => {
  await registry?.close();
  await corpus?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function rowsOf(index: SearchIndex) {
  const messages = index.db.prepare('SELECT message_id, conversation_id, timestamp, subject, from_address, grouping, has_attachment, seen, archived, deleted FROM messages ORDER BY message_id').all();
  const text = index.db.prepare('SELECT m.message_id, t.subject, t.body, t.quoted, t.sender FROM text t JOIN messages m ON m.id = t.rowid ORDER BY m.message_id').all();
  const textRows = Number((index.db.prepare('SELECT count(*) AS n FROM text').get() as { n: number }).n);
  return { messages, text, textRows };
}

describe('search index', () => {
  it('a build killed with SIGKILL mid-way resumes to exactly a clean build', async () => {
    const clean = SearchIndex.open(join(dir, 'clean.sqlite'));
    await catchUp({ db: t.db, index: clean });
    const expected = rowsOf(clean);
    const finalCheckpoint = clean.checkpoint();
    clean.close();
    expect(expected.messages.length).toBe(80);
    expect(expected.textRows).toBe(80);

    const path = join(dir, 'killed.sqlite');
    const child = spawn(process.execPath, ['--no-node-snapshot', join(projectRoot, 'test/fixtures/search-indexer-child.mjs'), couchUrlWithLogin(t), t.db.name, path, '40'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let out = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        // Some batches with messages in are committed: kill it while it writes the next.
        if ((out.match(/^commit [1-9]/gm) ?? []).length >= 3) {
          child.kill('SIGKILL');
          resolve();
        }
        if (out.includes('done')) reject(new Error('the build finished before it could be killed'));
      });
      child.on('exit', () => reject(new Error(`the indexer exited by itself: ${stderr}`)));
    });
    expect(await exited).toBe('SIGKILL');

    const killed = SearchIndex.open(path);
    try {
      const partial = rowsOf(killed);
      // Killed during the build: a scan cursor, no final checkpoint yet (checkpoints are
      // compared for equality only).
      expect(killed.buildCursor()).toBeDefined();
      expect(killed.checkpoint()).not.toEqual(finalCheckpoint);
      expect(out).not.toContain('done');
      // Each message row has exactly its one text row: the transaction was all or nothing.
      expect(partial.messages.length).toBeGreaterThan(0);
      expect(partial.textRows).toBe(partial.messages.length);
      expect(partial.text.length).toBe(partial.messages.length);
      await catchUp({ db: t.db, index: killed });
      expect(rowsOf(killed)).toEqual(expected);
    } finally {
      killed.close();
    }
  });

  it('raindrop search: results as JSON, a malformed query exits 2 naming the fault', async () => {
    const env = { HOME: dir, RAINDROP_CONFIG: join(dir, 'none.json'), RAINDROP_DATA_DIR: join(dir, 'cli-data'), RAINDROP_LOG_LEVEL: 'warn' };
    const common = ['--couch', couchUrlWithLogin(t), '--db', t.db.name];
    const ok = await runCli(['search', 'cake', '--messages', '--limit', '5', '--json', ...common], env);
    expect(ok.code, ok.stderr).toBe(0);
    const result = JSON.parse(ok.stdout) as SearchResult;
    expect(result.mode).toBe('messages');
    expect(result.results.length).toBe(5);
    expect(result.total).toBeGreaterThan(5);
    const hit = result.results[0]!;
    expect(hit.highlights.length).toBeGreaterThan(0);
    expect(hit.snippet.slice(hit.highlights[0]![0], hit.highlights[0]![1]).toLowerCase()).toBe('cake');
    const bad = await runCli(['search', 'from:', '--json', ...common], env);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: 'SEARCH_QUERY_INVALID', details: { fault: 'missing-value' } });
  });

  it('under serve: a new message is found, archived filtered, deleted gone, each within 2 s', async () => {
    const app = await serveApp(t, []);
    try {
      const auth = `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}`;
      const ask = async (q: string): Promise<SearchResult> => {
        const res = await fetch(`${app.url}_raindrop/search?messages=1&limit=50&q=${encodeURIComponent(q)}`, { headers: { Authorization: auth } });
        expect(res.status).toBe(200);
        return (await res.json()) as SearchResult;
      };
      /** Milliseconds until `check` holds, polling; fails after `within`. */
      const until = async (within: number, check: () => Promise<boolean>) => {
        const start = Date.now();
        while (!(await check())) {
          if (Date.now() - start > within) throw new Error(`not within ${within} ms`);
          await new Promise((r) => setTimeout(r, 50));
        }
        return Date.now() - start;
      };

      // Behind the login: no credentials, no results.
      expect((await fetch(`${app.url}_raindrop/search?q=cake`)).status).toBe(401);
      const bad = await fetch(`${app.url}_raindrop/search?q=${encodeURIComponent('"open')}`, { headers: { Authorization: auth } });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'SEARCH_QUERY_INVALID', fault: 'unclosed-quote' });

      // A real message not imported yet, found by its exact subject.
      const file = files[120]!;
      const message = (await decodeMessage(file))!;
      const query = `subject:"${message.subject.replace(/"/g, ' ')}"`;
      const has = async (q: string) => (await ask(q)).results.some((r) => r.message_id === message.messageId);
      expect(await has(query)).toBe(false);
      const imported = Date.now();
      await storeRawMessages(registry, t.db, [{ bytes: await readFile(file), receivedFrom: 'import:test' }]);
      // The queue (not the index) derives its documents first; time the index from there.
      const key = ['email', message.messageId] as const;
      await until(120_000, async () => (await getDoc(t.db, docIdFor(key, 'rd.msg.conversation'))) !== undefined && (await getDoc(t.db, docIdFor(key, 'rd.msg.body.quoted'))) !== undefined);
      const found = await until(2000, () => has(query));
      console.log(`search-live: found ${found} ms after its documents were written (${Date.now() - imported} ms after the import)`);

      const user = { writer: 'user', category: 'provider' as const, confidence: 2, source: null };
      expect(await has(`${query} is:archived`)).toBe(false);
      await writeValidatedItem(registry, t.db, { key, schemaId: 'rd.msg.archived', fields: { archived: true }, ...user });
      await until(2000, () => has(`${query} is:archived`));
      expect(await has(`${query} in:inbox`)).toBe(false);

      await writeValidatedItem(registry, t.db, { key, schemaId: 'rd.msg.deleted', fields: { deleted: true }, ...user });
      await until(2000, async () => !(await has(query)));
      expect(await has(`${query} is:deleted`)).toBe(true);
    } finally {
      await app.stop();
    }
  }, 300_000);
});
