import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installExtensions } from '../../src/cli/install-extensions.js';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { bulkWrite } from '../../src/couch/bulk-write.js';
import type { SchemaRegistry } from '../../src/schema/registry.js';
import { processBatch } from '../../src/queue/process-batch.js';
import { QueueRunner } from '../../src/queue/queue-runner.js';
import { prepareQueueDb, runQueueOnce, snapshot, writeRaw } from '../helpers/queue.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('queue');
let registry: SchemaRegistry;
let extDir: string;

const run = () => runQueueOnce(t.db, registry, 2);
const id = (key: string, schema: string, type = 'email') => docIdFor([type, key], schema);

beforeAll(async () => {
  ({ registry, extDir } = await prepareQueueDb(t.db, ['parse.js', 'words.js', 'stats.js', 'stats-override.js']));
});
afterAll(async () => {
  await registry.close();
  await rm(extDir, { recursive: true, force: true });
});

describe('work queue', () => {
  it('runs a three-level cascade in one pass, merging two writers by confidence', async () => {
    await writeRaw(registry, t.db, 'm1', 'Hello world\nThe quarterly spreadsheet arrived yesterday.');
    await writeRaw(registry, t.db, 'm2', 'Hi\nshort');
    const report = await run();
    expect(report.failed).toBe(0);
    expect(await getDoc(t.db, id('m1', 'rd.test.parsed'))).toMatchObject({ subject: 'Hello world', rd_schema_items: { 'test.parse': { rd_source: { id: id('m1', 'rd.test.raw') } } } });
    expect(await getDoc(t.db, id('m1', 'rd.test.words'))).toMatchObject({ count: 7 });
    expect(await getDoc(t.db, docIdFor(['word', 'm1:spreadsheet'], 'rd.test.word'))).toMatchObject({ word: 'spreadsheet' });
    // Level 3 read level 1 through rd.open; the confident extender's label won.
    expect(await getDoc(t.db, id('m1', 'rd.test.stats'))).toMatchObject({ words: 7, subject_length: 11, label: 'long', rd_schema_provider: 'test.stats' });
    expect(await getDoc(t.db, id('m2', 'rd.test.stats'))).toMatchObject({ words: 2, subject_length: 2, label: 'short' });
  });

  it('skips what is already done (provenance), so a second run does nothing', async () => {
    const report = await run();
    expect(report).toMatchObject({ ran: 0, written: 0 });
  });

  it('re-derives a changed source and removes outputs it no longer produces', async () => {
    await writeRaw(registry, t.db, 'm1', 'Hello world\nNothing long here.');
    const report = await run();
    expect(report.ran).toBeGreaterThanOrEqual(3);
    expect(await getDoc(t.db, id('m1', 'rd.test.words'))).toMatchObject({ count: 5 });
    expect(await getDoc(t.db, docIdFor(['word', 'm1:spreadsheet'], 'rd.test.word'))).toBeUndefined();
    expect(await getDoc(t.db, docIdFor(['word', 'm1:yesterday'], 'rd.test.word'))).toBeUndefined();
  });

  it('records a failing document as rd.core.error and replaces it when a later run succeeds', async () => {
    await writeRaw(registry, t.db, 'bad', 'THROW\nbody');
    await writeRaw(registry, t.db, 'good', 'Fine subject\nbody');
    const report = await run();
    expect(report.failed).toBe(1);
    expect(await getDoc(t.db, id('bad', 'rd.core.error'))).toMatchObject({ extension: 'test.parse', kind: 'exception', message: expect.stringMatching(/cannot parse this one/), source_id: id('bad', 'rd.test.raw') });
    expect(await getDoc(t.db, id('bad', 'rd.test.parsed'))).toBeUndefined();
    expect(await getDoc(t.db, id('good', 'rd.test.parsed'))).toBeDefined();
    await writeRaw(registry, t.db, 'bad', 'Now fine\nbody');
    await run();
    expect(await getDoc(t.db, id('bad', 'rd.core.error'))).toBeUndefined();
    expect(await getDoc(t.db, id('bad', 'rd.test.stats'))).toMatchObject({ subject_length: 8 });
  });

  it('removes every output of a deleted source', async () => {
    await writeRaw(registry, t.db, 'gone', 'Temporary message\nwith extraordinary words');
    await run();
    expect(await getDoc(t.db, docIdFor(['word', 'gone:extraordinary'], 'rd.test.word'))).toBeDefined();
    const raw = await getDoc(t.db, id('gone', 'rd.test.raw'));
    await bulkWrite(t.db, [{ _id: raw!._id, _rev: raw!._rev as string, _deleted: true }]);
    await run();
    expect(await getDoc(t.db, id('gone', 'rd.test.parsed'))).toBeUndefined();
    expect(await getDoc(t.db, docIdFor(['word', 'gone:extraordinary'], 'rd.test.word'))).toBeUndefined();
    // Downstream of the removed outputs goes too, through the feed.
    expect(await getDoc(t.db, id('gone', 'rd.test.words'))).toBeUndefined();
  });

  it('replays an edited extension with no manual step and removes what its old code made', async () => {
    await writeRaw(registry, t.db, 'm4', 'Subject\nnotebooks everywhere');
    await run();
    expect(await getDoc(t.db, docIdFor(['word', 'm4:notebooks'], 'rd.test.word'))).toBeDefined();
    const source = await readFile(join(extDir, 'words.js'), 'utf8');
    // The new code only emits words of 10+ letters.
    await writeFile(join(extDir, 'words.js'), source.replace('w.length >= 8', 'w.length >= 10'));
    await installExtensions(registry, t.db, [extDir], silentLogger);
    await writeRaw(registry, t.db, 'm3', 'Subject\nabsolutely wonderful notebook');
    await run();
    expect(await getDoc(t.db, docIdFor(['word', 'm3:absolutely'], 'rd.test.word'))).toBeDefined();
    expect(await getDoc(t.db, docIdFor(['word', 'm3:notebook'], 'rd.test.word'))).toBeUndefined();
    expect(await getDoc(t.db, docIdFor(['word', 'm3:wonderful'], 'rd.test.word'))).toBeUndefined();
    // Made by the old code from an unchanged source, not made by the new code: removed.
    expect(await getDoc(t.db, docIdFor(['word', 'm4:notebooks'], 'rd.test.word'))).toBeUndefined();
    expect(await getDoc(t.db, docIdFor(['word', 'm4:everywhere'], 'rd.test.word'))).toBeDefined();
  });
  it('ends a watch for an extension installed after the queue loaded its set, before it began to follow the feed', async () => {
    const runner = await QueueRunner.start({ db: t.db, registry, logger: silentLogger, poolSize: 2 });
    try {
      // What "raindrop init" does while a restarting queue is loading: one write per
      // extension, this one after the load. The catch-up reads it as a feed row and
      // checkpoints past it, so only a check of the installed set can see it.
      await writeFile(join(extDir, 'words.js'), `${await readFile(join(extDir, 'words.js'), 'utf8')}\n// edited while the queue started\n`);
      await installExtensions(registry, t.db, [extDir], silentLogger);
      let timer: NodeJS.Timeout | undefined;
      const stop = new Promise<void>((r) => (timer = setTimeout(r, 15_000)));
      try {
        expect(await runner.watch(stop)).toBe('extensions-changed');
      } finally {
        clearTimeout(timer);
      }
    } finally {
      await runner.close();
    }
  });
  it('ends a catch-up after the batch in hand when asked to stop; the next run finishes it', async () => {
    for (let i = 0; i < 5; i++) await writeRaw(registry, t.db, `stop${i}`, `Stop number ${i}\nsome words in message ${i}`);
    let requestStop!: () => void;
    const stop = new Promise<void>((r) => (requestStop = r));
    let batches = 0;
    const runner = await QueueRunner.start({ db: t.db, registry, logger: silentLogger, poolSize: 2, onBatch: () => { batches++; requestStop(); } });
    try {
      await runner.runUntilIdle(stop);
      // One batch, then stopped: the queue's own writes from it are not read back yet.
      expect(batches).toBe(1);
      expect(await runner.pendingChanges()).toBeGreaterThan(0);
    } finally {
      await runner.close();
    }
    const rest = await run();
    expect(rest.failed).toBe(0);
    for (let i = 0; i < 5; i++) expect(await getDoc(t.db, id(`stop${i}`, 'rd.test.stats'))).toMatchObject({ words: 6 });
    expect(await run()).toMatchObject({ ran: 0, written: 0 });
  });

  it('leaves a batch before its commit when a stop comes mid-cascade: nothing of it is written, the next run does it', async () => {
    for (let i = 0; i < 3; i++) await writeRaw(registry, t.db, `left${i}`, `Left number ${i}\nwords in a batch that is left`);
    const before = await snapshot(t.db);
    const raws = [0, 1, 2].map((i) => id(`left${i}`, 'rd.test.raw'));
    for (const raw of raws) expect(before[raw]).toBeDefined();
    const runner = await QueueRunner.start({ db: t.db, registry, logger: silentLogger, poolSize: 2 });
    try {
      const ctx = { db: t.db, registry, pool: runner.pool, ordered: runner.extensions, logger: silentLogger };
      const docs = await Promise.all(raws.map(async (k) => (await getDoc(t.db, k))!));
      // The stop arrives after the first step of the cascade (the parser) has run.
      let asked = 0;
      const stats = await processBatch(ctx, { docs, deleted: [] }, { abandon: () => asked++ > 0 });
      expect(stats).toMatchObject({ abandoned: true, written: 0 });
      expect(stats.ran).toBeGreaterThan(0);
    } finally {
      await runner.close();
    }
    expect(await snapshot(t.db)).toEqual(before);
    expect((await run()).failed).toBe(0);
    for (let i = 0; i < 3; i++) expect(await getDoc(t.db, id(`left${i}`, 'rd.test.stats'))).toMatchObject({ words: 9 });
  });
});
