import { describe, expect, it } from 'vitest';
import { isRaindropError } from '../../src/core/index.js';
import { parseQuery } from '../../src/search/query-parser.js';
import { segmentCjk } from '../../src/search/text.js';

const fault = (q: string) => {
  try {
    parseQuery(q);
  } catch (err) {
    if (isRaindropError(err, 'SEARCH_QUERY_INVALID')) return err.details?.fault;
    throw err;
  }
  return 'parsed';
};

describe('search query parser', () => {
  it('parses words, phrases, prefixes, fields, OR, NOT and parentheses', () => {
    expect(parseQuery('from:Felix "switch driver" rtl*')).toEqual({ kind: 'and', children: [
      { kind: 'text', field: 'from', tokens: ['felix'], prefix: false, phrase: false },
      { kind: 'text', field: null, tokens: ['switch', 'driver'], prefix: false, phrase: true },
      { kind: 'text', field: null, tokens: ['rtl'], prefix: true, phrase: false },
    ] });
    expect(parseQuery('a OR b -c')).toEqual({ kind: 'or', children: [
      { kind: 'text', field: null, tokens: ['a'], prefix: false, phrase: false },
      { kind: 'and', children: [{ kind: 'text', field: null, tokens: ['b'], prefix: false, phrase: false }, { kind: 'not', child: { kind: 'text', field: null, tokens: ['c'], prefix: false, phrase: false } }] },
    ] });
    expect(parseQuery('NOT (is:unread OR has:attachment) after:2020-02-29')).toEqual({ kind: 'and', children: [
      { kind: 'not', child: { kind: 'or', children: [{ kind: 'flag', flag: 'unread' }, { kind: 'flag', flag: 'attachment' }] } },
      { kind: 'date', op: 'after', seconds: Date.UTC(2020, 1, 29) / 1000 },
    ] });
    expect(parseQuery('in:List:Cake.lists.bufferbloat.net')).toEqual({ kind: 'in', grouping: 'list:cake.lists.bufferbloat.net' });
    // Accents are folded like the index's tokenizer folds them.
    expect(parseQuery('Müller')).toEqual({ kind: 'text', field: null, tokens: ['muller'], prefix: false, phrase: false });
  });

  it('names the fault of a malformed query', () => {
    expect(fault('')).toBe('empty');
    expect(fault('   ')).toBe('empty');
    expect(fault('"open phrase')).toBe('unclosed-quote');
    expect(fault('(a OR b')).toBe('unbalanced-parenthesis');
    expect(fault('a)')).toBe('unbalanced-parenthesis');
    expect(fault('()')).toBe('unbalanced-parenthesis');
    expect(fault('a OR')).toBe('dangling-operator');
    expect(fault('OR a')).toBe('dangling-operator');
    expect(fault('a NOT')).toBe('dangling-operator');
    expect(fault('colour:red')).toBe('unknown-field');
    expect(fault('from: felix')).toBe('missing-value');
    expect(fault('is:purple')).toBe('bad-value');
    expect(fault('has:pdf')).toBe('bad-value');
    expect(fault('before:yesterday')).toBe('bad-date');
    expect(fault('after:2021-02-30')).toBe('bad-date');
    expect(fault('!!!')).toBe('no-words');
    expect(fault('x'.repeat(3000))).toBe('too-long');
    expect(fault('-spam')).toBe('parsed');
  });

  it('makes each CJK character a token, and a CJK word the phrase of its characters', () => {
    expect(segmentCjk('路由器的固件').trim().split(/\s+/)).toEqual(['路', '由', '器', '的', '固', '件']);
    expect(segmentCjk('plain text')).toBe('plain text');
    expect(parseQuery('固件')).toEqual({ kind: 'text', field: null, tokens: ['固', '件'], prefix: false, phrase: true });
    expect(parseQuery('ファームウェア更新').kind).toBe('text');
  });
});
