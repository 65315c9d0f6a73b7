import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { readAttachment } from '../../src/couch/read-attachment.js';
import type { SchemaItemInput } from '../../src/couch/schema-items/model.js';
import { removeSchemaItem, writeSchemaItem } from '../../src/couch/schema-items/write-schema-item.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('items');

const item = (key: string, writer: string, fields: SchemaItemInput['fields'], extra: Partial<SchemaItemInput> = {}): SchemaItemInput => ({
  key: ['email', key],
  schemaId: 'rd.msg.test',
  writer,
  category: 'extender',
  source: null,
  fields,
  ...extra,
});

describe('schema items on a real server', () => {
  it('creates, updates, and skips an unchanged write', async () => {
    const created = await writeSchemaItem(t.db, item('a', 'fetch.test', { subject: 'one' }, { category: 'provider' }));
    expect(created).toMatchObject({ written: true, conflicts: 0 });
    const same = await writeSchemaItem(t.db, item('a', 'fetch.test', { subject: 'one' }, { category: 'provider' }));
    expect(same).toEqual({ id: created.id, written: false, rev: created.rev, conflicts: 0 });
    const updated = await writeSchemaItem(t.db, item('a', 'fetch.test', { subject: 'two' }, { category: 'provider' }));
    expect(updated.written).toBe(true);
    expect(await getDoc(t.db, created.id)).toMatchObject({ subject: 'two', rd_key: ['email', 'a'], rd_schema_id: 'rd.msg.test', rd_schema_provider: 'fetch.test' });
  });

  it('aggregates several writers by confidence and deletes the doc with the last one', async () => {
    await writeSchemaItem(t.db, item('b', 'ext.low', { subject: 'low', only_low: 1 }, { confidence: 1, category: 'provider' }));
    const { id } = await writeSchemaItem(t.db, item('b', 'ext.high', { subject: 'high' }, { confidence: 10 }));
    expect(await getDoc(t.db, id)).toMatchObject({ subject: 'high', only_low: 1 });
    await removeSchemaItem(t.db, id, 'ext.high');
    expect(await getDoc(t.db, id)).toMatchObject({ subject: 'low', only_low: 1 });
    expect(await removeSchemaItem(t.db, id, 'ext.high')).toMatchObject({ written: false });
    await removeSchemaItem(t.db, id, 'ext.low');
    expect(await getDoc(t.db, id)).toBeUndefined();
  });

  it('re-reads and re-merges when two writers race on one document', async () => {
    const writers = ['ext.one', 'ext.two', 'ext.three', 'ext.four'];
    const rounds = 5;
    const outcomes = await Promise.all(
      writers.map(async (writer, w) => {
        const results = [];
        for (let r = 0; r < rounds; r++) {
          results.push(await writeSchemaItem(t.db, item('race', writer, { [`f_${w}`]: r, shared: `${writer}:${r}` }, { confidence: w })));
        }
        return results;
      }),
    );
    const doc = await getDoc(t.db, docIdFor(['email', 'race'], 'rd.msg.test'));
    // Every writer's last contribution survived; the shared field went to the most confident.
    writers.forEach((_, w) => expect(doc?.[`f_${w}`]).toBe(rounds - 1));
    expect(doc?.shared).toBe(`ext.four:${rounds - 1}`);
    expect(Object.keys(doc?.rd_schema_items as object).sort()).toEqual([...writers].sort());
    // The race really happened: at least one write had to re-merge.
    expect(outcomes.flat().reduce((n, o) => n + o.conflicts, 0)).toBeGreaterThan(0);
  });

  it('stores a 5 MB attachment under the writer\'s namespace and reads it back intact', async () => {
    const bytes = randomBytes(5 * 1024 * 1024);
    const input = item('big', 'fetch.test', { size: bytes.length }, { category: 'provider', attachments: { rfc822: { contentType: 'message/rfc822', data: bytes } } });
    const written = await writeSchemaItem(t.db, input);
    expect(written.written).toBe(true);
    const back = await readAttachment(t.db, written.id, 'fetch.test/rfc822');
    expect(back?.length).toBe(bytes.length);
    expect(back?.equals(bytes)).toBe(true);
    // Another writer adding fields keeps the attachment.
    await writeSchemaItem(t.db, item('big', 'ext.other', { tag: 'x' }));
    expect((await readAttachment(t.db, written.id, 'fetch.test/rfc822'))?.equals(bytes)).toBe(true);
    expect((await writeSchemaItem(t.db, input)).written).toBe(false);
  });
});
