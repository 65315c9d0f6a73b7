import { describe, expect, it } from 'vitest';
import { RaindropError } from '../../src/core/index.js';
import { orderExtensions, type QueueExtension } from '../../src/queue/extension-set.js';

const ext = (id: string, source: string[], emits: string[], reads: string[] = []): QueueExtension => ({
  declaration: { id, source_schemas: source, emits, reads, category: 'provider', confidence: 1, uses_dependencies: false, has_later_handler: false },
  codeHash: id,
  code: '',
});
const ids = (list: QueueExtension[]) => orderExtensions(list).map((e) => e.declaration.id);

describe('orderExtensions', () => {
  it('puts an extension after every extension that emits one of its sources', () => {
    expect(ids([ext('c', ['s.b'], ['s.c']), ext('b', ['s.a'], ['s.b']), ext('a', ['raw'], ['s.a'])])).toEqual(['a', 'b', 'c']);
  });

  it('refuses a cycle and names it', () => {
    const run = () => orderExtensions([ext('x', ['s.y'], ['s.x']), ext('y', ['s.x'], ['s.y'])]);
    expect(run).toThrow(RaindropError);
    expect(run).toThrow(/cycle: x -> y -> x|cycle: y -> x -> y/);
  });

  it('runs a reader after the extension whose output it opens (a summary after the tags)', () => {
    // Sorted by id alone, "conv" would run before "tags".
    expect(ids([ext('conv', ['raw'], ['s.summary'], ['s.tag']), ext('tags', ['raw'], ['s.tag'])])).toEqual(['tags', 'conv']);
  });

  it('ignores a read that would make a cycle: sources decide', () => {
    // a opens what b emits, but b consumes a's output: b must still come after a.
    expect(ids([ext('a', ['raw'], ['s.a'], ['s.b']), ext('b', ['s.a'], ['s.b'])])).toEqual(['a', 'b']);
  });
});
