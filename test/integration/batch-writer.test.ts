/**
 * The queue's BatchWriter against the real server: a document this batch deletes and
 * creates again (a stale output removed, then emitted by another source; the last
 * dependent of a document replaced by a new one) is written as an update of the stored
 * revision, not refused with a 409 on every retry.
 */
import { describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { BatchWriter } from '../../src/queue/batch-writer.js';
import { bookkeepingId } from '../../src/queue/provenance.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('batch_writer');
const item = (writer: string, fields: Record<string, string>) => ({ key: ['email', 'a@b'] as ['email', string], schemaId: 'rd.test.x', writer, category: 'provider' as const, source: { id: 'src', hash: 'h' }, fields });

describe('BatchWriter', () => {
  it('deletes and re-creates a stored document in one batch', async () => {
    const id = docIdFor(['email', 'a@b'], 'rd.test.x');
    const first = new BatchWriter(t.db);
    await first.load([id]);
    first.applyItem(id, item('ext.one', { v: 'old' }));
    expect(await first.commit()).toBe(1);

    const second = new BatchWriter(t.db);
    await second.load([id]);
    expect(second.removeItem(id, 'ext.one')).toBe(true);
    expect(second.get(id)).toBeNull();
    second.applyItem(id, item('ext.two', { v: 'new' }));
    expect(await second.commit()).toBe(1);
    const stored = await getDoc(t.db, id);
    expect(stored).toMatchObject({ v: 'new' });
    expect(Object.keys(stored?.rd_schema_items as object)).toEqual(['ext.two']);
  });

  it('replaces the only dependent of a document (the index entry is emptied, then filled)', async () => {
    const target = 'rc!email.x!rd.msg.seen';
    const first = new BatchWriter(t.db);
    await first.load([bookkeepingId('A'), bookkeepingId('B')]);
    first.setProvenance('A', 'ext', { source_hash: 'h', code_hash: 'c', outputs: [], deps: [target] });
    await first.commit();
    expect((await getDoc(t.db, bookkeepingId(target)))?.dependents).toEqual({ [target]: { ext: ['A'] } });

    const second = new BatchWriter(t.db);
    await second.load([bookkeepingId('A'), bookkeepingId('B')]);
    second.setProvenance('A', 'ext', { source_hash: 'h2', code_hash: 'c', outputs: [] });
    second.setProvenance('B', 'ext', { source_hash: 'h', code_hash: 'c', outputs: [], deps: [target] });
    await second.commit();
    expect((await getDoc(t.db, bookkeepingId(target)))?.dependents).toEqual({ [target]: { ext: ['B'] } });

    const third = new BatchWriter(t.db);
    await third.load([bookkeepingId('B')]);
    third.setProvenance('B', 'ext', null);
    await third.commit();
    expect(await getDoc(t.db, bookkeepingId(target))).toBeUndefined();
  });
});
