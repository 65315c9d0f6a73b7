/**
 * The web app's browser modules compute what the back end computes: document ids
 * (couchapp/app/src/data/ids.ts vs src/core/keys.ts) and the user's schema item
 * (couchapp/app/src/data/user-state.ts vs src/couch/schema-items/merge.ts).
 */
import { describe, expect, it } from 'vitest';
import { docIdFor as browserDocIdFor, schemaOfId } from '../../couchapp/app/src/data/ids.js';
import { applyUserItem, type CouchDoc } from '../../couchapp/app/src/data/user-state.js';
import { docIdFor, type JsonValue, type RdKey } from '../../src/core/index.js';
import { applyItem } from '../../src/couch/schema-items/merge.js';

const keys: RdKey[] = [
  ['email', 'abc@example.org'],
  ['email', 'ünïcödé-€-😀@exämple.org'],
  ['identity', ['email', 'ann@example.org']],
  ['attach', ['m@x', '1.2']],
  ['grouping', 'list:openwrt-devel.lists.openwrt.org'],
  ['thing', { b: [1, 2.5, null, true], a: 'z', 'é': {} }],
];

const backEnd = (existing: CouchDoc | undefined, key: RdKey, schemaId: string, fields: Record<string, JsonValue>) =>
  applyItem(existing as never, { key, schemaId, writer: 'user', category: 'provider', confidence: 2, source: null, fields });

describe('the browser modules', () => {
  it('compute the same document ids', () => {
    for (const key of keys) {
      expect(browserDocIdFor(key, 'rd.msg.seen')).toBe(docIdFor(key, 'rd.msg.seen'));
      expect(schemaOfId(docIdFor(key, 'rd.conv.summary'))).toBe('rd.conv.summary');
    }
  });

  it('write the same user item as raindrop mark: new, over another writer, changed, unchanged', () => {
    const key: RdKey = ['email', 'm@example.org'];
    const fresh = applyUserItem(undefined, key, 'rd.msg.seen', { seen: true });
    expect(fresh).toEqual(backEnd(undefined, key, 'rd.msg.seen', { seen: true }).doc);

    const mirrored = { ...applyItem(undefined, { key, schemaId: 'rd.msg.seen', writer: 'rd.imap', category: 'provider', confidence: 1, source: null, fields: { seen: false } }).doc, _rev: '1-a' };
    expect(applyUserItem(mirrored as CouchDoc, key, 'rd.msg.seen', { seen: true })).toEqual(backEnd(mirrored as CouchDoc, key, 'rd.msg.seen', { seen: true }).doc);

    const both = { ...backEnd(mirrored as CouchDoc, key, 'rd.msg.seen', { seen: true }).doc, _rev: '2-b' } as CouchDoc;
    expect(applyUserItem(both, key, 'rd.msg.seen', { seen: true })).toBeUndefined();
    expect(applyUserItem(both, key, 'rd.msg.seen', { seen: false })).toEqual(backEnd(both, key, 'rd.msg.seen', { seen: false }).doc);

    const outgoing = { account: 'a', from: { address: 'me@x.org' }, to: [{ name: 'Bob', address: 'b@y.org' }], subject: 'Re: ü', text: 'x\n> y', state: 'draft' } as Record<string, JsonValue>;
    expect(applyUserItem(undefined, key, 'rd.msg.outgoing', outgoing)).toEqual(backEnd(undefined, key, 'rd.msg.outgoing', outgoing).doc);
  });
});
