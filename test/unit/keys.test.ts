import { describe, expect, it } from 'vitest';
import { RaindropError, canonicalJson, contentHash, docIdFor, parseDocId } from '../../src/core/index.js';

// Expected ids were computed outside this code base (Python's json + base64), so these
// tests pin the format rather than echo the implementation.
const golden: Array<[unknown, string, string]> = [
  [['email', 'abc@example.org'], 'rd.msg.email', 'rc!email.ImFiY0BleGFtcGxlLm9yZyI!rd.msg.email'],
  [['identity', ['email', 'a@b.org']], 'rd.identity', 'rc!identity.WyJlbWFpbCIsImFAYi5vcmciXQ!rd.identity'],
  [['conv', { b: 1, a: [1, 2, { z: null, y: true }] }], 'rd.conv.summary', 'rc!conv.eyJhIjpbMSwyLHsieSI6dHJ1ZSwieiI6bnVsbH1dLCJiIjoxfQ!rd.conv.summary'],
  [['email', 'Grüße 日本 🎉'], 'rd.msg.body.quoted', 'rc!email.Ikdyw7zDn2Ug5pel5pysIPCfjoki!rd.msg.body.quoted'],
];

describe('document ids', () => {
  it.each(golden)('%j / %s has its golden id', (key, schema, id) => {
    expect(docIdFor(key as [string, string], schema)).toBe(id);
    expect(parseDocId(id)).toEqual({ key, schemaId: schema });
  });

  it('round-trips Unicode, nesting, numbers and empty values', () => {
    const values = ['', 'ß\u0000\u2028"\\', 0, -1.5e-7, 12345678901234, true, null, [], {}, [[[['deep']]]], { 'ключ': { '': [null, { x: '👍🏽' }] } }];
    for (const value of values) {
      const id = docIdFor(['thing', value], 'rd.test-schema.v_2');
      expect(parseDocId(id)).toEqual({ key: ['thing', value], schemaId: 'rd.test-schema.v_2' });
    }
  });

  it('does not depend on key order of objects', () => {
    expect(docIdFor(['k', { a: 1, b: { d: 2, c: 3 } }], 's')).toBe(docIdFor(['k', { b: { c: 3, d: 2 }, a: 1 }], 's'));
  });

  it('refuses bad keys and schema ids with a code', () => {
    const bad: Array<[unknown, string]> = [
      ['email', 'rd.x'],
      [['email'], 'rd.x'],
      [['Email', 'a'], 'rd.x'],
      [['em.ail', 'a'], 'rd.x'],
      [['email', undefined], 'rd.x'],
      [['email', Number.NaN], 'rd.x'],
      [['email', 'a'], 'Rd.X'],
      [['email', 'a'], 'rd..x'],
      [['email', 'a'], 'rd!x'],
    ];
    for (const [key, schema] of bad) {
      expect(() => docIdFor(key as [string, string], schema)).toThrow(RaindropError);
    }
  });

  it('refuses ids it would not compute, including non-canonical encodings', () => {
    const nonCanonical = `rc!k.${Buffer.from('{"b":1,"a":2}').toString('base64url')}!s`;
    for (const id of ['email.x!s', 'rc!email!s', 'rc!email.***!s', 'rc!email.e30!S', nonCanonical, 'rc!email.bm90IGpzb24!s']) {
      expect(() => parseDocId(id), id).toThrow(expect.objectContaining({ code: 'INVALID_DOC_ID' }));
    }
  });
});

describe('canonical JSON and content hashes', () => {
  it('sorts keys and drops whitespace', () => {
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: 'x' })).toBe('{"a":"x","b":[1,{"c":2,"d":1}]}');
  });

  it('refuses what is not JSON data instead of dropping it', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const value of [{ a: undefined }, [() => 1], Infinity, cyclic, new Date(0), 10n]) {
      expect(() => canonicalJson(value)).toThrow(expect.objectContaining({ code: 'NOT_JSON' }));
    }
  });

  it('hashes equal content equally and different content differently', () => {
    expect(contentHash({ a: 1, b: 2 })).toBe(contentHash({ b: 2, a: 1 }));
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: '1' }));
    // SHA-256 of the canonical text, checked against an independent value.
    expect(contentHash({})).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });
});
