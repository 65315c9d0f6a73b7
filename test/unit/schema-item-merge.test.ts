import { describe, expect, it } from 'vitest';
import { applyItem, itemsOf, removeItem } from '../../src/couch/schema-items/merge.js';
import type { SchemaItemInput } from '../../src/couch/schema-items/model.js';
import type { CouchDoc } from '../../src/couch/documents.js';

const key = ['email', 'm1@example.org'] as const;
const item = (writer: string, fields: SchemaItemInput['fields'], extra: Partial<SchemaItemInput> = {}): SchemaItemInput => ({
  key,
  schemaId: 'rd.msg.test',
  writer,
  category: 'extender',
  source: { id: 'rc!email.x!rd.msg.rfc822', hash: 'h1' },
  fields,
  ...extra,
});

/** Simulates the server: what a write stores (inline data becomes a stub). */
function stored(doc: CouchDoc, rev = '1-a'): CouchDoc {
  const atts = doc._attachments
    ? Object.fromEntries(
        Object.entries(doc._attachments).map(([n, a]) => [n, { content_type: a.content_type, stub: true, length: a.data ? Buffer.from(a.data, 'base64').length : (a.length ?? 0) }]),
      )
    : undefined;
  return { ...doc, _rev: rev, ...(atts ? { _attachments: atts } : {}) };
}

describe('schema-item aggregation', () => {
  it('stores a single writer without duplicating its fields', () => {
    const { doc, changed } = applyItem(undefined, item('ext.a', { subject: 'hi' }, { category: 'provider' }));
    expect(changed).toBe(true);
    expect(doc._id).toBe('rc!email.Im0xQGV4YW1wbGUub3JnIg!rd.msg.test');
    expect(doc.subject).toBe('hi');
    expect(doc.rd_schema_provider).toBe('ext.a');
    expect((doc.rd_schema_items as Record<string, { fields?: unknown }>)['ext.a']?.fields).toBeUndefined();
    expect(itemsOf(stored(doc)).get('ext.a')?.fields).toEqual({ subject: 'hi' });
  });

  it('lets the higher confidence win a shared field and keeps every writer', () => {
    let doc = stored(applyItem(undefined, item('ext.low', { subject: 'low', a: 1 }, { confidence: 1, category: 'provider' })).doc);
    doc = stored(applyItem(doc, item('ext.high', { subject: 'high', b: 2 }, { confidence: 5 })).doc, '2-b');
    expect(doc).toMatchObject({ subject: 'high', a: 1, b: 2, rd_schema_provider: 'ext.low' });
    // Order of arrival does not matter.
    let other = stored(applyItem(undefined, item('ext.high', { subject: 'high', b: 2 }, { confidence: 5 })).doc);
    other = stored(applyItem(other, item('ext.low', { subject: 'low', a: 1 }, { confidence: 1, category: 'provider' })).doc, '2-b');
    expect(other).toEqual(doc);
    // An extender alone leaves the schema without a provider.
    expect(applyItem(undefined, item('ext.high', { b: 2 })).doc.rd_schema_provider).toBeUndefined();
  });

  it('reports an identical rewrite as unchanged', () => {
    const doc = stored(applyItem(undefined, item('ext.a', { x: [1, { y: 2 }] })).doc);
    expect(applyItem(doc, item('ext.a', { x: [1, { y: 2 }] })).changed).toBe(false);
    expect(applyItem(doc, item('ext.a', { x: [1, { y: 3 }] })).changed).toBe(true);
    expect(applyItem(doc, item('ext.a', { x: [1, { y: 2 }] }, { source: { id: 's', hash: 'h2' } })).changed).toBe(true);
  });

  it('recomputes the aggregate when a writer is removed and deletes with the last one', () => {
    let doc = stored(applyItem(undefined, item('ext.low', { subject: 'low' }, { confidence: 1, category: 'provider' })).doc);
    doc = stored(applyItem(doc, item('ext.high', { subject: 'high', extra: true }, { confidence: 5 })).doc, '2-b');
    const afterHigh = removeItem(doc, 'ext.high');
    expect(afterHigh.doc).toMatchObject({ subject: 'low', rd_schema_provider: 'ext.low' });
    expect(afterHigh.doc).not.toHaveProperty('extra');
    const last = removeItem(stored(afterHigh.doc, '3-c'), 'ext.low');
    expect(last.doc).toEqual({ _id: doc._id, _rev: '3-c', _deleted: true });
    expect(removeItem(doc, 'ext.absent').changed).toBe(false);
  });

  it('namespaces attachments by writer and keeps the other writers\' ones', () => {
    const bytes = new TextEncoder().encode('raw message');
    let doc = stored(applyItem(undefined, item('fetch.imap', {}, { category: 'provider', attachments: { rfc822: { contentType: 'message/rfc822', data: bytes } } })).doc);
    expect(Object.keys(doc._attachments ?? {})).toEqual(['fetch.imap/rfc822']);
    doc = stored(applyItem(doc, item('ext.b', { n: 1 }, { attachments: { rfc822: { contentType: 'text/plain', data: bytes } } })).doc, '2-b');
    expect(Object.keys(doc._attachments ?? {}).sort()).toEqual(['ext.b/rfc822', 'fetch.imap/rfc822']);
    const removed = removeItem(doc, 'ext.b').doc;
    expect(Object.keys(removed._attachments ?? {})).toEqual(['fetch.imap/rfc822']);
    expect(removed._attachments?.['fetch.imap/rfc822']?.stub).toBe(true);
  });

  it('sends large attachments as separate uploads and repairs a missing one', () => {
    const big = new Uint8Array(1024 * 1024).fill(7);
    const first = applyItem(undefined, item('fetch.imap', {}, { attachments: { raw: { contentType: 'application/octet-stream', data: big } } }));
    expect(first.uploads.map((u) => u.name)).toEqual(['fetch.imap/raw']);
    // The doc was written but the process died before the upload: not "unchanged".
    const again = applyItem(stored(first.doc), item('fetch.imap', {}, { attachments: { raw: { contentType: 'application/octet-stream', data: big } } }));
    expect(again.changed).toBe(true);
    expect(again.uploads).toHaveLength(1);
  });

  it('refuses reserved field names and bad writer ids', () => {
    expect(() => applyItem(undefined, item('ext.a', { rd_key: 1 }))).toThrow(expect.objectContaining({ code: 'INVALID_ITEM' }));
    expect(() => applyItem(undefined, item('ext.a', { _id: 1 }))).toThrow(expect.objectContaining({ code: 'INVALID_ITEM' }));
    expect(() => applyItem(undefined, item('ext/a', {}))).toThrow(expect.objectContaining({ code: 'INVALID_ITEM' }));
  });
});
