import { describe, expect, it } from 'vitest';
import { type BookkeepingDoc, type ProvenanceEntry, decodeEntry, encodeEntry, provenanceIn, withProvenance } from '../../src/queue/provenance.js';

const source = 'rc!email.<a@example.org>!rd.msg.thread';
const thread = (id: string) => `rc!email.<${id}@example.org>!rd.msg.thread`;
const entry: ProvenanceEntry = {
  source_hash: 's1',
  code_hash: 'c1',
  outputs: ['rc!email.<a@example.org>!rd.msg.conversation'],
  deps: [thread('a'), thread('b'), thread('c')],
  seen: { [thread('a')]: '0123456789abcdef', [thread('c')]: 'absent' },
};

describe('provenance entries as stored', () => {
  it('keep each dependency id once, with the version seen ("" where none was)', () => {
    const stored = encodeEntry(entry);
    expect(stored.deps).toEqual({ [thread('a')]: '0123456789abcdef', [thread('b')]: '', [thread('c')]: 'absent' });
    expect(stored.seen).toBeUndefined();
    expect(JSON.stringify(stored).split(thread('a')).length - 1).toBe(1);
  });

  it('read back as what was written', () => {
    expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    const plain: ProvenanceEntry = { source_hash: 's', code_hash: 'c', outputs: [], error: 'rc!email.<a@example.org>!rd.core.error' };
    expect(decodeEntry(encodeEntry(plain))).toEqual(plain);
    const unseen: ProvenanceEntry = { source_hash: 's', code_hash: 'c', outputs: [], deps: [thread('b')] };
    expect(decodeEntry(encodeEntry(unseen))).toEqual(unseen);
  });

  it('of the earlier form (deps a list, seen a map) are still read', () => {
    const legacy = { _id: 'rb!email.<a@example.org>', rd_bookkeeping_of: 'email.<a@example.org>', provenance: { [source]: { 'rd.ext.conversation': { ...entry } } } } as unknown as BookkeepingDoc;
    expect(provenanceIn(legacy, source)?.extensions['rd.ext.conversation']).toEqual(entry);
  });

  it('an earlier-form entry is rewritten once in the new form, then left alone', () => {
    const legacy = { _id: 'rb!email.<a@example.org>', _rev: '1-x', rd_bookkeeping_of: 'email.<a@example.org>', provenance: { [source]: { 'rd.ext.conversation': { ...entry } } } } as unknown as BookkeepingDoc;
    const next = withProvenance(legacy, source, 'rd.ext.conversation', entry) as BookkeepingDoc;
    expect(next).toBeDefined();
    expect(next.provenance?.[source]?.['rd.ext.conversation']?.deps).toEqual(encodeEntry(entry).deps);
    expect(withProvenance(next, source, 'rd.ext.conversation', entry)).toBeUndefined();
    expect(provenanceIn(next, source)?.extensions['rd.ext.conversation']).toEqual(entry);
  });
});
