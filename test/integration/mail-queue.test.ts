/**
 * The built-in mail extensions under the real queue on real mail: raw messages stored
 * with storeRawMessages (as import and IMAP do), `QueueRunner.runUntilIdle`, then every
 * stored message must have rd.msg.email and rd.msg.body or an rd.core.error naming why.
 */
import { cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { builtInSchemaDir, installSchemas } from '../../src/cli/install-schemas.js';
import { projectRoot } from '../../src/core/entry-points.js';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import { bulkGet } from '../../src/couch/bulk-get.js';
import { pushDesignDocs, readDesignDocs } from '../../src/couch/push-design-docs.js';
import { storeRawMessages } from '../../src/protocols/store-raw.js';
import { QueueRunner } from '../../src/queue/queue-runner.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { messageFiles, openCorpus, spamAssassinDir, type Corpus } from '../helpers/corpus.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('mail');
let registry: SchemaRegistry;
let corpus: Corpus;

beforeAll(async () => {
  await pushDesignDocs(t.db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
  await installSchemas(t.db, builtInSchemaDir());
  registry = await SchemaRegistry.load(t.db);
  corpus = await openCorpus(inject('corpusDir'));
  // Parsing is what this file tests: only the two parsing extensions (threading has its
  // own test file and would multiply the run time here).
  const only = join(corpus.dir, 'parsing-extensions');
  await mkdir(only, { recursive: true });
  for (const file of ['email.js', 'body.js']) await cp(join(projectRoot, 'extensions', file), join(only, file));
  const report = await installExtensions(registry, t.db, [only], silentLogger);
  expect(report.refused).toEqual([]);
});
afterAll(async () => {
  await registry?.close();
  await corpus?.remove();
});

async function load(files: readonly string[], receivedFrom: string) {
  const ids: string[] = [];
  for (let i = 0; i < files.length; i += 200) {
    const messages = await Promise.all(files.slice(i, i + 200).map(async (f) => ({ bytes: await readFile(f), receivedFrom })));
    for (const r of await storeRawMessages(registry, t.db, messages)) if (r.outcome !== 'refused') ids.push(r.id);
  }
  return [...new Set(ids)];
}

async function process() {
  const started = performance.now();
  const runner = await QueueRunner.start({ db: t.db, registry, logger: silentLogger, poolSize: 2 });
  try {
    const report = await runner.runUntilIdle();
    return { report, seconds: (performance.now() - started) / 1000 };
  } finally {
    await runner.close();
  }
}

/** For each raw id: has email, has body, or the error records that explain why not. */
async function outcomes(rawIds: readonly string[]) {
  const keyOf = (id: string) => id.slice(0, id.lastIndexOf('!'));
  const want = rawIds.flatMap((id) => ['rd.msg.email', 'rd.msg.body', 'rd.core.error'].map((s) => `${keyOf(id)}!${s}`));
  const docs = await bulkGet(t.db, want);
  let email = 0;
  let body = 0;
  let explained = 0;
  const unexplained: string[] = [];
  const errors: string[] = [];
  for (const id of rawIds) {
    const k = keyOf(id);
    const e = docs.get(`${k}!rd.msg.email`);
    const b = docs.get(`${k}!rd.msg.body`);
    const err = docs.get(`${k}!rd.core.error`);
    if (e) email++;
    if (b) body++;
    if (err) errors.push(`${String(err.kind)}: ${String(err.message).slice(0, 120)}`);
    if (e && b) continue;
    if (err) explained++;
    else unexplained.push(id);
  }
  return { email, body, explained, unexplained, errors };
}

describe('mail extensions through the queue', () => {
  it('processes the nasty set and a slice of SpamAssassin: every message has email+body or an error', async () => {
    const nasty = await messageFiles(await corpus.unpack('nasty'));
    const spam = (await messageFiles(spamAssassinDir)).filter((f) => /hard-ham-1|spam-2/.test(f));
    const ids = await load([...nasty, ...spam], 'import:test');
    const { report, seconds } = await process();
    const o = await outcomes(ids);
    console.log(`nasty+spamassassin: ${ids.length} messages in ${seconds.toFixed(1)} s (${(ids.length / seconds).toFixed(0)}/s); email ${o.email}, body ${o.body}, explained errors ${o.explained}`, o.errors.slice(0, 10));
    expect(report.batches).toBeGreaterThan(0);
    expect(o.unexplained).toEqual([]);
    expect(o.email).toBeGreaterThan(ids.length * 0.99);
    expect(o.body).toBe(o.email);
  }, 600_000);

  it('processes openwrt-devel messages and measures the rate', async () => {
    const all = await messageFiles(await corpus.unpack('openwrt-devel'));
    const files = all.slice(0, 1500);
    const ids = await load(files, 'import:test');
    const { seconds } = await process();
    const o = await outcomes(ids);
    console.log(`openwrt-devel: ${ids.length} messages in ${seconds.toFixed(1)} s (${(ids.length / seconds).toFixed(0)}/s); email ${o.email}, body ${o.body}`, o.errors.slice(0, 10));
    expect(o.unexplained).toEqual([]);
    expect(o.email).toBe(ids.length);
    const sample = (await bulkGet(t.db, [docIdFor(['email', 'x'], 'rd.msg.email')])).size;
    expect(sample).toBe(0);
  }, 600_000);
});
