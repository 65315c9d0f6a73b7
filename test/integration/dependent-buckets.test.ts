/**
 * Dependents of keys without provenance (subjects, senders, missing messages) in shared
 * buckets that split as they grow (src/queue/dependent-buckets.ts), against the real
 * server: every dependent is found after a split, after a crash between a split's
 * writes (children written, parent not yet marked) and after a 409 on a bucket another
 * writer split meanwhile; documents of the earlier form (`rb!<key>` holding only
 * dependents) are still read and emptied.
 */
import { describe, expect, it } from 'vitest';
import { partitionOfId } from '../../src/cluster/partition.js';
import { bulkGet, getDoc } from '../../src/couch/bulk-get.js';
import { bulkWrite } from '../../src/couch/bulk-write.js';
import { callCouch } from '../../src/couch/connect.js';
import { BatchWriter } from '../../src/queue/batch-writer.js';
import { type BucketDoc, bucketIdAt, bucketPrefix, partitionOfKeyPart } from '../../src/queue/dependent-buckets.js';
import { queueLimits } from '../../src/queue/limits.js';
import { bookkeepingId, keyPartOf } from '../../src/queue/provenance.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('dependent_buckets');

/** Subject-index targets of one partition, so they share one tree (`count` of them). */
function targetsOfPartition(partition: number, count: number, tag: string): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const id = `rc!subject.${tag}-${i}!rd.msg.subject-index`;
    if (partitionOfKeyPart(keyPartOf(id)) === partition) out.push(id);
  }
  return out;
}
const source = (i: number, tag: string) => `rc!email.<${tag}-${i}@example.org>!rd.msg.thread`;

/** One batch: each source declares deps on its share of the targets. */
async function declare(targets: readonly string[], sources: number, tag: string, fence?: () => Promise<boolean>) {
  const writer = new BatchWriter(t.db);
  const ids = Array.from({ length: sources }, (_, i) => source(i, tag));
  await writer.load(ids.map(bookkeepingId));
  ids.forEach((s, i) => writer.setProvenance(s, 'ext.conv', { source_hash: 'h', code_hash: 'c', outputs: [], deps: targets.filter((_, k) => k % sources === i) }));
  return writer.commit(fence);
}

async function dependentsFound(targets: readonly string[]): Promise<Map<string, string[]>> {
  const reader = new BatchWriter(t.db);
  await reader.loadDependents(targets);
  return new Map(targets.map((target) => [target, reader.dependentsOf(target).map(([ext, s]) => `${ext} ${s}`)]));
}

async function buckets(partition: number): Promise<BucketDoc[]> {
  const prefix = `${bucketPrefix}${partition}!`;
  const page = (await callCouch(t.db.couch, 'listing buckets', () => t.db.scope.list({ include_docs: true, startkey: prefix, endkey: `${prefix}\ufff0` }))) as unknown as { rows: Array<{ doc: BucketDoc }> };
  return page.rows.map((r) => r.doc);
}

function expectAllFound(found: Map<string, string[]>, targets: readonly string[], sources: number, tag: string): void {
  targets.forEach((target, k) => expect(found.get(target), target).toEqual([`ext.conv ${source(k % sources, tag)}`]));
}

describe('dependents buckets', () => {
  it('keep dependents-only keys in a few per-partition documents that split past the limit, all found', async () => {
    const targets = targetsOfPartition(3, 400, 'split');
    await declare(targets, 8, 'split');
    const docs = await buckets(3);
    // 400 entries of ~110 bytes pass the limit several times: a tree, not 400 documents.
    expect(docs.some((d) => d.split)).toBe(true);
    expect(docs.length).toBeLessThan(20);
    for (const d of docs) {
      if (!d.split) expect(JSON.stringify(d.dependents ?? {}).length).toBeLessThanOrEqual(queueLimits.dependentsBucketBytes);
      else expect(d.dependents ?? {}).toEqual({});
      expect(partitionOfId(d._id)).toBe(3);
    }
    expect(await bulkGet(t.db, targets.map(bookkeepingId))).toEqual(new Map());
    expectAllFound(await dependentsFound(targets), targets, 8, 'split');

    // Removing a source's deps takes its entries out wherever they are.
    const writer = new BatchWriter(t.db);
    await writer.load([bookkeepingId(source(0, 'split'))]);
    writer.setProvenance(source(0, 'split'), 'ext.conv', null);
    await writer.commit();
    const after = await dependentsFound(targets);
    targets.forEach((target, k) => expect(after.get(target)).toEqual(k % 8 === 0 ? [] : [`ext.conv ${source(k % 8, 'split')}`]));
  });

  it('finds every dependent in a tree deeper than one read reaches', async () => {
    const targets = targetsOfPartition(9, 2500, 'deep');
    await declare(targets, 10, 'deep');
    const depth = Math.max(...(await buckets(9)).map((d) => d._id.length - `${bucketPrefix}9!`.length));
    expect(depth).toBeGreaterThanOrEqual(queueLimits.dependentsBucketReadDepths);
    expectAllFound(await dependentsFound(targets), targets, 10, 'deep');
  });

  it('a crash between a split\'s writes (children written, parent not marked) loses nothing, and the next batch finishes the split', async () => {
    const small = targetsOfPartition(5, 100, 'crash-a');
    await declare(small, 4, 'crash-a');
    const root = bucketIdAt(small[0] as string, 0);
    expect((await getDoc(t.db, root)) as BucketDoc | undefined).toMatchObject({ _id: root });
    expect(((await getDoc(t.db, root)) as BucketDoc).split).toBeUndefined();

    // The batch that passes the limit: its first request writes the children, the fence
    // then fails (as a crash would) before the parent is marked and before provenance.
    const more = targetsOfPartition(5, 300, 'crash-b');
    let requests = 0;
    const result = await declare(more, 4, 'crash-b', async () => ++requests < 1);
    expect(result.refused).toBe(true);
    const half = await buckets(5);
    const parent = half.find((d) => d._id === root) as BucketDoc;
    expect(parent.split).toBeUndefined();
    // 400 entries divide over more than two levels: the deepest ones (no split of their
    // own) went in the first request; every split mark was still to come.
    expect(half.filter((d) => d._id.length > root.length).length).toBeGreaterThan(1);
    expect(half.filter((d) => d.split)).toEqual([]);
    expectAllFound(await dependentsFound(small), small, 4, 'crash-a');
    expectAllFound(await dependentsFound(more), more, 4, 'crash-b');

    // The batch is redone (its provenance never reached the server): the split completes.
    await declare(more, 4, 'crash-b');
    const done = await buckets(5);
    expect((done.find((d) => d._id === root) as BucketDoc).split).toBe(true);
    for (const d of done) {
      if (d.split) expect(d.dependents ?? {}).toEqual({});
      else expect(JSON.stringify(d.dependents ?? {}).length).toBeLessThanOrEqual(queueLimits.dependentsBucketBytes);
    }
    expectAllFound(await dependentsFound(small), small, 4, 'crash-a');
    expectAllFound(await dependentsFound(more), more, 4, 'crash-b');
  });

  it('an entry added to a bucket another writer split meanwhile is re-read on the 409 and still found', async () => {
    const first = targetsOfPartition(7, 10, 'race-a');
    await declare(first, 1, 'race-a');
    const late = first[0] as string;
    const slow = new BatchWriter(t.db);
    const lateSource = 'rc!email.<late@example.org>!rd.msg.thread';
    await slow.load([bookkeepingId(lateSource)]);
    await slow.loadDependents([late]);

    const many = targetsOfPartition(7, 300, 'race-b');
    await declare(many, 4, 'race-b');
    expect(((await getDoc(t.db, bucketIdAt(late, 0))) as BucketDoc).split).toBe(true);

    slow.setProvenance(lateSource, 'ext.conv', { source_hash: 'h', code_hash: 'c', outputs: [], deps: [late] });
    await slow.commit();
    expect((await dependentsFound([late])).get(late)?.sort()).toEqual([`ext.conv ${lateSource}`, `ext.conv ${source(0, 'race-a')}`].sort());
    expectAllFound(await dependentsFound(many), many, 4, 'race-b');
  });

  it('reads dependents from an rb!<key> of the earlier form, empties it on removal and adds new ones to a bucket', async () => {
    const target = 'rc!identity.email.legacy@example.org!rd.identity.flags';
    const old = 'rc!email.<old@example.org>!rd.msg.grouping';
    // As the code before buckets left them: the dependent's provenance declaring the
    // dep, and the target's own rb!<key> holding only the dependents entry.
    const written = await bulkWrite(t.db, [
      { _id: bookkeepingId(target), rd_bookkeeping_of: keyPartOf(target), dependents: { [target]: { 'ext.group': [old] } } },
      { _id: bookkeepingId(old), rd_bookkeeping_of: keyPartOf(old), provenance: { [old]: { 'ext.group': { source_hash: 'h', code_hash: 'c', outputs: [], deps: { [target]: '' } } } } },
    ]);
    expect(written.every((w) => w.ok)).toBe(true);
    expect((await dependentsFound([target])).get(target)).toEqual([`ext.group ${old}`]);

    const next = 'rc!email.<new@example.org>!rd.msg.grouping';
    const writer = new BatchWriter(t.db);
    await writer.load([bookkeepingId(next), bookkeepingId(old)]);
    writer.setProvenance(next, 'ext.group', { source_hash: 'h', code_hash: 'c', outputs: [], deps: [target] });
    await writer.commit();
    expect((await dependentsFound([target])).get(target)?.sort()).toEqual([`ext.group ${next}`, `ext.group ${old}`].sort());
    expect(((await getDoc(t.db, bucketIdAt(target, 0))) as BucketDoc).dependents?.[target]).toEqual({ 'ext.group': [next] });

    const removal = new BatchWriter(t.db);
    await removal.load([bookkeepingId(old)]);
    removal.setProvenance(old, 'ext.group', { source_hash: 'h2', code_hash: 'c', outputs: [] });
    await removal.commit();
    expect((await dependentsFound([target])).get(target)).toEqual([`ext.group ${next}`]);
    expect(await getDoc(t.db, bookkeepingId(target))).toBeUndefined();
  });
});
