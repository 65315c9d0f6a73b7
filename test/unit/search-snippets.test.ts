/**
 * Snippets of large messages: cut from a copy of their first 16 KB (snippet() over a
 * 256 KB column cost 50–65 ms per result), with the highlight where the match is; a
 * match found only further in still finds the message, with the start of its text.
 * Real SQLite FTS5 index in a temporary file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SearchIndex } from '../../src/search/index-store.js';
import { searchLimits } from '../../src/search/limits.js';
import type { MessageRow } from '../../src/search/message-row.js';
import { runSearch } from '../../src/search/run-query.js';

let dir: string;
let index: SearchIndex;

const filler = (chars: number) => Array.from({ length: Math.ceil(chars / 12) }, (_, i) => `lorem${i % 97} `).join('').slice(0, chars);
const row = (id: string, body: string, timestamp: number): MessageRow => ({
  messageId: id, conversationId: `c-${id}`, timestamp, subject: `message ${id}`, fromName: 'Ann Example', fromAddress: 'ann@example.org',
  grouping: 'personal', listId: null, hasAttachment: false, seen: false, flagged: false, archived: false, deleted: false,
  text: { subject: `message ${id}`, body, quoted: '', sender: 'Ann Example ann@example.org', to: '', cc: '', filename: '', list: '' },
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raindrop-snippets-'));
  index = SearchIndex.open(join(dir, 'index.sqlite'));
  const cap = searchLimits.snippetSourceChars;
  index.commit(new Map([
    ['small', row('small', `short note about the zeppelin flight`, 1)],
    // The match early in a message far above the cap.
    ['early', row('early', `${filler(200)} zeppelin early ${filler(cap * 8)}`, 2)],
    // The match only beyond the cap.
    ['late', row('late', `${filler(cap * 2)} zeppelin late ${filler(1000)}`, 3)],
  ]), 'seq-1');
});

afterAll(async () => {
  index.close();
  await rm(dir, { recursive: true, force: true });
});

describe('snippets', () => {
  it('highlight the match in small and large messages, and fall back to the start of the text past the cap', () => {
    const result = runSearch(index, 'zeppelin', { messages: true, sort: 'newest' });
    expect(result.results.map((r) => r.message_id)).toEqual(['late', 'early', 'small']);
    const byId = new Map(result.results.map((r) => [r.message_id, r]));
    for (const id of ['small', 'early']) {
      const hit = byId.get(id)!;
      expect(hit.highlights.length, id).toBeGreaterThan(0);
      expect(hit.snippet.slice(hit.highlights[0]![0], hit.highlights[0]![1])).toBe('zeppelin');
    }
    expect(byId.get('early')!.snippet).toContain('early');
    const late = byId.get('late')!;
    expect(late.highlights).toEqual([]);
    expect(late.snippet.startsWith('lorem0 lorem1')).toBe(true);
    // The copy used for large messages is emptied after each query.
    expect((index.db.prepare('SELECT count(*) AS n FROM temp.snippet_source').get() as { n: number }).n).toBe(0);
  });
});
