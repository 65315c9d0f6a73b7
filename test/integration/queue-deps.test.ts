import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import type { SchemaRegistry } from '../../src/schema/registry.js';
import { writeValidatedItem } from '../../src/schema/validated-write.js';
import { prepareQueueDb, runQueueOnce, writeRaw } from '../helpers/queue.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('queuedeps');
let registry: SchemaRegistry;
let extDir: string;

const run = () => runQueueOnce(t.db, registry, 1);
const setConfig = (tag: string) =>
  writeValidatedItem(registry, t.db, { key: ['config', 'global'], schemaId: 'rd.test.config', writer: 'ui.settings', category: 'provider', source: null, fields: { tag } });

beforeAll(async () => {
  ({ registry, extDir } = await prepareQueueDb(t.db, ['parse.js', 'with-deps.js', 'counter.js']));
});
afterAll(async () => {
  await registry.close();
  await rm(extDir, { recursive: true, force: true });
});

describe('queue dependencies and later_handler', () => {
  it('re-runs a source when a document its outputs depend on changes', async () => {
    await setConfig('blue');
    await writeRaw(registry, t.db, 'a', 'First\nbody');
    await writeRaw(registry, t.db, 'b', 'Second\nbody');
    await run();
    expect(await getDoc(t.db, docIdFor(['email', 'a'], 'rd.test.tagged'))).toMatchObject({ tag: 'blue' });
    await setConfig('green');
    const report = await run();
    expect(report.ran).toBeGreaterThanOrEqual(2);
    expect(await getDoc(t.db, docIdFor(['email', 'a'], 'rd.test.tagged'))).toMatchObject({ tag: 'green' });
    expect(await getDoc(t.db, docIdFor(['email', 'b'], 'rd.test.tagged'))).toMatchObject({ tag: 'green' });
  });

  it('runs later_handler once per batch with the collected values', async () => {
    const total = await getDoc(t.db, docIdFor(['total', 'last-batch'], 'rd.test.total'));
    expect(total).toMatchObject({ messages: 2, subject_chars: 'First'.length + 'Second'.length });
  });
});
