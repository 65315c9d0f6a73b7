import { describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { bulkGet, getDoc } from '../../src/couch/bulk-get.js';
import { bulkWrite } from '../../src/couch/bulk-write.js';
import { databaseInfo } from '../../src/couch/database-info.js';
import { ensureDatabase } from '../../src/couch/ensure-database.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('documents');

describe('bulk reads and writes', () => {
  it('reports the database and treats a second create as success', async () => {
    expect(await ensureDatabase(t.couch, t.db.name)).toMatchObject({ created: false });
    const info = await databaseInfo(t.db);
    expect(info).toMatchObject({ name: t.db.name, docCount: 0 });
    expect(await databaseInfo({ ...t.db, name: `${t.db.name}_absent` })).toBeUndefined();
  });

  it('writes more than one chunk and returns one result per document, in order', async () => {
    const docs = Array.from({ length: 1203 }, (_, i) => ({ _id: docIdFor(['n', i], 'rd.test.bulk'), n: i }));
    const results = await bulkWrite(t.db, docs);
    expect(results).toHaveLength(1203);
    expect(results.every((r, i) => r.ok && r.id === docs[i]?._id)).toBe(true);
    const read = await bulkGet(t.db, [...docs.map((d) => d._id), 'rc!n.missing!rd.test.bulk']);
    expect(read.size).toBe(1203);
    expect(read.get(docs[1202]!._id)?.n).toBe(1202);
  });

  it('returns a conflict as a value next to successes in the same batch', async () => {
    const id = docIdFor(['c', 'one'], 'rd.test.bulk');
    const [first] = await bulkWrite(t.db, [{ _id: id, v: 1 }]);
    expect(first).toMatchObject({ ok: true });
    const results = await bulkWrite(t.db, [
      { _id: id, v: 2 }, // no _rev: conflicts
      { _id: docIdFor(['c', 'two'], 'rd.test.bulk'), v: 1 },
    ]);
    expect(results[0]).toEqual({ id, ok: false, conflict: true });
    expect(results[1]).toMatchObject({ ok: true });
    expect((await getDoc(t.db, id))?.v).toBe(1);
  });

  it('does not return deleted documents', async () => {
    const id = docIdFor(['d', 'gone'], 'rd.test.bulk');
    const [written] = await bulkWrite(t.db, [{ _id: id }]);
    await bulkWrite(t.db, [{ _id: id, _rev: written!.ok ? written!.rev : '', _deleted: true }]);
    expect(await getDoc(t.db, id)).toBeUndefined();
  });
});
