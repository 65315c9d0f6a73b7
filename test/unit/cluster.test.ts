import { describe, expect, it } from 'vitest';
import { docIdFor } from '../../src/core/index.js';
import { bookkeepingId } from '../../src/queue/provenance.js';
import { type LeaseDoc, leaseAllowsCommit, leaseIsFree, takenLease } from '../../src/cluster/documents.js';
import { allPartitions, partitionOfId, stableHash32 } from '../../src/cluster/partition.js';
import { ownedBy, rendezvousOwner } from '../../src/cluster/rendezvous.js';
import { editedExtensions, splitExtensions } from '../../src/cluster/work-classes.js';
import type { QueueExtension } from '../../src/queue/extension-set.js';

const keys = Array.from({ length: 2000 }, (_, i) => ['email', `<m${i}@example.org>`] as const);

describe('partitions', () => {
  it('are stable numbers (the same on every machine: pinned values)', () => {
    expect(stableHash32('')).toBe(0xe3b0c442);
    expect(stableHash32('abc')).toBe(0xba7816bf);
  });

  it('put every document of a key and its bookkeeping in one partition', () => {
    for (const key of keys.slice(0, 200)) {
      const ids = ['rd.msg.rfc822', 'rd.msg.email', 'rd.msg.body'].map((s) => docIdFor(key, s));
      const parts = new Set([...ids, bookkeepingId(ids[0] as string)].map((id) => partitionOfId(id)));
      expect(parts.size).toBe(1);
    }
  });

  it('spread keys over all partitions about evenly', () => {
    const counts = new Map<number, number>();
    for (const key of keys) {
      const p = partitionOfId(docIdFor(key, 'rd.msg.email'));
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(allPartitions());
    const mean = keys.length / 16;
    for (const n of counts.values()) expect(Math.abs(n - mean)).toBeLessThan(mean * 0.35);
  });
});

describe('rendezvous', () => {
  const names = allPartitions().map((p) => `partition:${p}`);

  it('gives every name exactly one owner, the same whatever the order of the list', () => {
    const workers = ['w-a', 'w-b', 'w-c'];
    for (const n of names) expect(rendezvousOwner(n, workers)).toBe(rendezvousOwner(n, [...workers].reverse()));
    const owned = workers.map((w) => ownedBy(w, names, workers));
    expect(owned.flat().sort()).toEqual([...names].sort());
    for (const o of owned) expect(o.length).toBeGreaterThan(0);
    expect(rendezvousOwner('x', [])).toBeUndefined();
  });

  it('moves only the names of the worker that leaves, and only to a joining worker', () => {
    const three = ['w-a', 'w-b', 'w-c'];
    const two = ['w-a', 'w-b'];
    for (const n of names) {
      const before = rendezvousOwner(n, three);
      const after = rendezvousOwner(n, two);
      if (before !== 'w-c') expect(after).toBe(before);
    }
    const four = [...three, 'w-d'];
    for (const n of names) {
      const after = rendezvousOwner(n, four);
      if (after !== 'w-d') expect(after).toBe(rendezvousOwner(n, three));
    }
    // Across many names, a newcomer gets about a quarter.
    const many = Array.from({ length: 4000 }, (_, i) => `n${i}`);
    const share = ownedBy('w-d', many, four).length / many.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
  });
});

describe('leases', () => {
  const lease = (owner: string | null, epoch: number, expires: number): LeaseDoc => ({ _id: 'rk!lease!partition:1', _rev: '3-x', rd_cluster: 'lease', name: 'partition:1', owner, epoch, expires });
  const live = new Set(['me', 'other']);

  it('are free when absent, released, run out, mine, or held by a dead worker', () => {
    expect(leaseIsFree(undefined, 'me', 1000, live)).toBe(true);
    expect(leaseIsFree(lease(null, 4, 0), 'me', 1000, live)).toBe(true);
    expect(leaseIsFree(lease('other', 4, 999), 'me', 1000, live)).toBe(true);
    expect(leaseIsFree(lease('me', 4, 5000), 'me', 1000, live)).toBe(true);
    expect(leaseIsFree(lease('dead', 4, 5000), 'me', 1000, live)).toBe(true);
    expect(leaseIsFree(lease('other', 4, 5000), 'me', 1000, live)).toBe(false);
  });

  it('take a new epoch on every taking (even from itself) and carry the _rev', () => {
    expect(takenLease('partition:1', undefined, 'me', 1000, 500)).toMatchObject({ owner: 'me', epoch: 1, expires: 1500 });
    expect(takenLease('partition:1', lease('other', 4, 0), 'me', 1000, 500)).toMatchObject({ _rev: '3-x', owner: 'me', epoch: 5 });
    expect(takenLease('partition:1', lease('me', 4, 0), 'me', 1000, 500)).toMatchObject({ epoch: 5 });
  });

  it('allow a commit only to the owner at its epoch with the margin left', () => {
    expect(leaseAllowsCommit(lease('me', 4, 2000), 'me', 4, 1000, 500)).toBe(true);
    expect(leaseAllowsCommit(lease('me', 4, 1400), 'me', 4, 1000, 500)).toBe(false);
    expect(leaseAllowsCommit(lease('me', 5, 2000), 'me', 4, 1000, 500)).toBe(false);
    expect(leaseAllowsCommit(lease('other', 4, 2000), 'me', 4, 1000, 500)).toBe(false);
    expect(leaseAllowsCommit(undefined, 'me', 4, 1000, 500)).toBe(false);
  });
});

describe('work classes', () => {
  const ext = (id: string, source: string[], emits: string[], more: { later?: boolean; deps?: boolean; reads?: string[] } = {}) => ({
    codeHash: id,
    code: '',
    declaration: { id, source_schemas: source, emits, reads: more.reads ?? [], has_later_handler: more.later ?? false, uses_dependencies: more.deps ?? false } as unknown as QueueExtension['declaration'],
  });

  it('sends cross-key extensions, what follows them and what reads them to the aggregate class', () => {
    const ordered = [
      ext('reader', ['rd.msg.email'], ['rd.x'], { reads: ['rd.contact'] }),
      ext('email', ['rd.msg.rfc822'], ['rd.msg.email']),
      ext('body', ['rd.msg.email'], ['rd.msg.body']),
      ext('identities', ['rd.msg.email'], ['rd.contact'], { later: true }),
      ext('thread', ['rd.msg.email'], ['rd.msg.thread'], { later: true }),
      ext('conversation', ['rd.msg.thread'], ['rd.conv.summary']),
      ext('outgoing', ['rd.msg.outgoing'], ['rd.msg.outgoing.smtp'], { deps: true }),
    ];
    const split = splitExtensions(ordered);
    expect(split.partitioned.map((e) => e.declaration.id)).toEqual(['email', 'body']);
    expect(split.aggregate.map((e) => e.declaration.id)).toEqual(['reader', 'identities', 'thread', 'conversation', 'outgoing']);
  });
});

describe('edited extensions of a unit', () => {
  it('are those run with other code now, kept until their stale outputs are removed', () => {
    const before = { a: 'h1', b: 'h2', gone: 'h3' };
    // b edited; c new (no outputs of old code); "gone" disabled (keeps what it made).
    expect(editedExtensions(before, { a: 'h1', b: 'h9', c: 'h4' }, [])).toEqual(['b']);
    // Edited again before the replay ended: still pending once, with what was pending.
    expect(editedExtensions({ a: 'h1', b: 'h9' }, { a: 'h5', b: 'h9' }, ['b'])).toEqual(['a', 'b']);
    expect(editedExtensions(before, before, [])).toEqual([]);
  });
});
