/**
 * A commit cut off between its outputs and its provenance (here by its fence, as when a
 * cluster worker loses its lease part way; a crash leaves the same), then rerun in a world
 * that changed meanwhile: the outputs the cut-off run wrote and the rerun no longer makes
 * are named by the commit's intent, and removed before the rerun.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docIdFor, silentLogger } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { removeUncommittedOutputs } from '../../src/queue/commit-intent.js';
import { processBatch } from '../../src/queue/process-batch.js';
import { bookkeepingId } from '../../src/queue/provenance.js';
import { QueueRunner } from '../../src/queue/queue-runner.js';
import type { SchemaRegistry } from '../../src/schema/registry.js';
import { prepareQueueDb, runQueueOnce, writeRaw } from '../helpers/queue.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('intent');
let registry: SchemaRegistry;
let extDir: string;

const word = (msg: string, w: string) => docIdFor(['word', `${msg}:${w}`], 'rd.test.word');
const parsed = (msg: string) => docIdFor(['email', msg], 'rd.test.parsed');

beforeAll(async () => {
  ({ registry, extDir } = await prepareQueueDb(t.db, ['parse.js', 'words.js']));
});
afterAll(async () => {
  await registry.close();
  await rm(extDir, { recursive: true, force: true });
});

describe('commit intent', () => {
  it('removes the outputs of a commit cut off before its provenance that the rerun no longer makes', async () => {
    for (const m of ['kept', 'cleaned']) await writeRaw(registry, t.db, m, 'Subject\nthe quarterly spreadsheet');
    const runner = await QueueRunner.start({ db: t.db, registry, logger: silentLogger, poolSize: 1 });
    try {
      const ctx = { db: t.db, registry, pool: runner.pool, ordered: runner.extensions, logger: silentLogger };
      for (const m of ['kept', 'cleaned']) {
        const raw = (await getDoc(t.db, docIdFor(['email', m], 'rd.test.raw')))!;
        // The fence holds for the batch's own look and the outputs' request, then fails.
        let asked = 0;
        const stats = await processBatch(ctx, { docs: [raw], deleted: [] }, { intentId: `rk!intent!${m}`, beforeCommit: async () => asked++ < 1 });
        expect(stats.refused).toBe(true);
      }
    } finally {
      await runner.close();
    }
    for (const m of ['kept', 'cleaned']) {
      expect(await getDoc(t.db, word(m, 'quarterly'))).toBeDefined();
      expect(await getDoc(t.db, bookkeepingId(parsed(m)))).toBeUndefined();
    }

    // Meanwhile the source changed; only one message's intent is acted on.
    for (const m of ['kept', 'cleaned']) await writeRaw(registry, t.db, m, 'Subject\nthe monumental spreadsheet');
    expect(await removeUncommittedOutputs(t.db, 'rk!intent!cleaned')).toBeGreaterThan(0);
    expect((await runQueueOnce(t.db, registry, 1)).failed).toBe(0);

    for (const m of ['kept', 'cleaned']) {
      expect(await getDoc(t.db, word(m, 'monumental'))).toMatchObject({ word: 'monumental' });
      expect(await getDoc(t.db, word(m, 'spreadsheet'))).toMatchObject({ word: 'spreadsheet' });
    }
    expect(await getDoc(t.db, word('cleaned', 'quarterly'))).toBeUndefined();
    // Without its intent read, the cut-off run's output stays: no provenance names it.
    expect(await getDoc(t.db, word('kept', 'quarterly'))).toMatchObject({ word: 'quarterly' });
    // What a finished commit vouched for is left alone.
    expect(await removeUncommittedOutputs(t.db, 'rk!intent!cleaned')).toBe(0);
  });
});
