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

async function dependentsOf(target: string): Promise<Array<[string, string]>> {
  const reader = new BatchWriter(t.db);
  await reader.loadDependents([target]);
  return reader.dependentsOf(target);
}

describe('BatchWriter', () => {
  it('reads a document once for loads under way at the same time, and keeps a copy set meanwhile', async () => {
    // Unrelated extensions of one cascade step load the same bookkeeping at the same time.
    // The first read is held until the test lets it go.
    const [a, b, c] = ['a', 'b', 'c'].map((x) => docIdFor(['email', `${x}@b`], 'rd.test.concurrent')) as [string, string, string];
    const seeded = { _id: a, v: 'seeded' };
    await getDoc(t.db, a); // connection up before counting
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const server = t.db.couch.server;
    const asked: string[][] = [];
    const request: typeof server.request = (options) => {
      asked.push(typeof options === 'string' ? [] : [...((options.body as { keys?: string[] } | undefined)?.keys ?? [])]);
      return asked.length === 1 ? held.then(() => server.request(options)) : server.request(options);
    };
    const writer = new BatchWriter({ ...t.db, couch: { ...t.db.couch, server: { ...server, request } } });
    const first = writer.load([a, b]);
    let secondDone = false;
    const second = writer.load([b, c]).then(() => (secondDone = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(secondDone).toBe(false); // b is still being read by the first load
    writer.seed([seeded]);
    release();
    await Promise.all([first, second]);
    expect(asked).toEqual([[a, b], [c]]);
    expect(writer.get(a)).toBe(seeded);
    expect(writer.get(b)).toBeNull();
    expect(writer.get(c)).toBeNull();
  });

  it('deletes and re-creates a stored document in one batch', async () => {
    const id = docIdFor(['email', 'a@b'], 'rd.test.x');
    const first = new BatchWriter(t.db);
    await first.load([id]);
    first.applyItem(id, item('ext.one', { v: 'old' }));
    expect((await first.commit()).written).toBe(1);

    const second = new BatchWriter(t.db);
    await second.load([id]);
    expect(second.removeItem(id, 'ext.one')).toBe(true);
    expect(second.get(id)).toBeNull();
    second.applyItem(id, item('ext.two', { v: 'new' }));
    expect((await second.commit()).written).toBe(1);
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
    expect(await dependentsOf(target)).toEqual([['ext', 'A']]);

    const second = new BatchWriter(t.db);
    await second.load([bookkeepingId('A'), bookkeepingId('B')]);
    second.setProvenance('A', 'ext', { source_hash: 'h2', code_hash: 'c', outputs: [] });
    second.setProvenance('B', 'ext', { source_hash: 'h', code_hash: 'c', outputs: [], deps: [target] });
    await second.commit();
    expect(await dependentsOf(target)).toEqual([['ext', 'B']]);

    const third = new BatchWriter(t.db);
    await third.load([bookkeepingId('B')]);
    third.setProvenance('B', 'ext', null);
    await third.commit();
    expect(await dependentsOf(target)).toEqual([]);
    // A key with no provenance keeps its dependents in a bucket, not a document of its own.
    expect(await getDoc(t.db, bookkeepingId(target))).toBeUndefined();
  });

  it('asks the fence before every write request after the first, and stops where it fails', async () => {
    const id = docIdFor(['email', 'fenced@b'], 'rd.test.x');
    const writer = new BatchWriter(t.db);
    await writer.load([id, bookkeepingId('S')]);
    writer.applyItem(id, { ...item('ext.one', { v: 'mine' }), key: ['email', 'fenced@b'] });
    writer.setProvenance('S', 'ext.one', { source_hash: 'h', code_hash: 'c', outputs: [id] });
    let asked = 0;
    const result = await writer.commit(async () => (asked++, false));
    // The data went in the first request (the caller's own check covers it); the
    // provenance that says "done" did not: the next owner redoes the batch.
    expect(result).toEqual({ written: 1, refused: true, revs: new Map() });
    expect(asked).toBe(1);
    expect(await getDoc(t.db, id)).toMatchObject({ v: 'mine' });
    expect(await getDoc(t.db, bookkeepingId('S'))).toBeUndefined();
  });

  it('does not replay a 409 over the new owner\'s write once the fence fails', async () => {
    const id = docIdFor(['email', 'count@b'], 'rd.test.x');
    const seed = new BatchWriter(t.db);
    await seed.load([id]);
    seed.applyItem(id, { ...item('ext.one', { v: '1' }), key: ['email', 'count@b'] });
    await seed.commit();
    // The late owner read the count at 1; the new owner wrote 2 meanwhile.
    const late = new BatchWriter(t.db);
    await late.load([id]);
    late.applyItem(id, { ...item('ext.one', { v: '2 (late)' }), key: ['email', 'count@b'] });
    const owner = new BatchWriter(t.db);
    await owner.load([id]);
    owner.applyItem(id, { ...item('ext.one', { v: '2' }), key: ['email', 'count@b'] });
    await owner.commit();
    let asked = 0;
    expect(await late.commit(async () => (asked++, false))).toEqual({ written: 0, refused: true, revs: new Map() });
    expect(asked).toBe(1);
    expect(await getDoc(t.db, id)).toMatchObject({ v: '2' });
    // Without a fence (the single queue) a 409 is re-read and replayed, as before.
    const single = new BatchWriter(t.db);
    await single.load([id]);
    const other = new BatchWriter(t.db);
    await other.load([id]);
    other.applyItem(id, { ...item('ext.two', { v: 'x' }), key: ['email', 'count@b'] });
    await other.commit();
    single.applyItem(id, { ...item('ext.one', { v: '3' }), key: ['email', 'count@b'] });
    const committed = await single.commit();
    const stored = await getDoc(t.db, id);
    expect(Object.keys(stored?.rd_schema_items as object).sort()).toEqual(['ext.one', 'ext.two']);
    // The revision the commit reports is the one stored after the replay (what the
    // document's row on the feed carries: own-writes.ts).
    expect(committed).toEqual({ written: 1, refused: false, revs: new Map([[id, stored?._rev]]) });
  });
});
