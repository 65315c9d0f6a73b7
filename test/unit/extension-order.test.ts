import { describe, expect, it } from 'vitest';
import { RaindropError } from '../../src/core/index.js';
import { cascadeSteps, orderExtensions, type QueueExtension } from '../../src/queue/extension-set.js';

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

describe('cascadeSteps', () => {
  const steps = (list: QueueExtension[]) => cascadeSteps(orderExtensions(list)).map((step) => step.map((e) => e.declaration.id));

  it('puts the consumers of one schema that do not touch each other in one step', () => {
    const mail = [
      ext('email', ['raw'], ['s.email']),
      ext('body', ['s.email'], ['s.body']),
      ext('thread', ['s.email'], ['s.thread']),
      ext('tags', ['s.email'], ['s.tag']),
      ext('quoted', ['s.body'], ['s.quoted']),
      ext('conv', ['s.thread'], ['s.conv'], ['s.tag']),
    ];
    expect(steps(mail)).toEqual([['email'], ['body', 'tags', 'thread'], ['conv', 'quoted']]);
  });

  it('keeps apart a reader and what it opens, and two writers of one schema', () => {
    expect(steps([ext('a', ['raw'], ['s.a'], ['s.b']), ext('b', ['raw'], ['s.b'])])).toEqual([['b'], ['a']]);
    expect(steps([ext('x', ['raw'], ['s.shared']), ext('y', ['raw'], ['s.shared'])])).toEqual([['x'], ['y']]);
  });

  it('keeps every related pair in the order orderExtensions gives it', () => {
    const list = [ext('a', ['raw'], ['s.a'], ['s.b']), ext('b', ['s.a'], ['s.b']), ext('c', ['raw'], ['s.c']), ext('d', ['s.c', 's.b'], ['s.d'])];
    const ordered = orderExtensions(list).map((e) => e.declaration.id);
    const flat = steps(list).flat();
    expect(flat.sort()).toEqual([...ordered].sort());
    const stepOf = (id: string) => steps(list).findIndex((s) => s.includes(id));
    for (const [up, down] of [['a', 'b'], ['b', 'd'], ['c', 'd']] as const) {
      expect(stepOf(up)).toBeLessThan(stepOf(down));
      expect(ordered.indexOf(up)).toBeLessThan(ordered.indexOf(down));
    }
  });
});
