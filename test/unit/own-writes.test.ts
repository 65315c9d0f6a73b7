import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OwnWrites } from '../../src/queue/own-writes.js';

const id = (i: number) => `rc!email.<${i}.${i * 7919}@lists.example.org>!rd.msg.email`;
const rev = (gen: number, i: number) => `${gen}-${createHash('sha256').update(`${gen}/${i}`).digest('hex')}`;

describe('the echoes a queue remembers of its own settled writes', () => {
  it('pass over the remembered revision once, and never another revision of that id', () => {
    const own = new OwnWrites(10);
    own.remember(id(1), rev(1, 1));
    expect(own.takeEcho(id(1), rev(2, 1))).toBe(false);
    expect(own.takeEcho(id(2), rev(1, 1))).toBe(false);
    expect(own.takeEcho(id(1), undefined)).toBe(false);
    expect(own.takeEcho(id(1), rev(1, 1))).toBe(true);
    expect(own.takeEcho(id(1), rev(1, 1))).toBe(false);
    // A later write of the id replaces the earlier: only the last revision is an echo.
    own.remember(id(3), rev(1, 3));
    own.remember(id(3), rev(2, 3));
    expect(own.takeEcho(id(3), rev(1, 3))).toBe(false);
    expect(own.takeEcho(id(3), rev(2, 3))).toBe(true);
  });

  it('forget the oldest past their capacity, counting an id written again as new', () => {
    const own = new OwnWrites(3);
    for (const i of [1, 2, 3]) own.remember(id(i), rev(1, i));
    own.remember(id(1), rev(2, 1));
    own.remember(id(4), rev(1, 4));
    expect(own.size).toBe(3);
    expect([1, 2, 3, 4].map((i) => own.takeEcho(id(i), rev(i === 1 ? 2 : 1, i)))).toEqual([true, false, true, true]);
  });

  it('remember the last writes up to their capacity, whichever echoes were met meanwhile', () => {
    const own = new OwnWrites(3);
    for (const i of [1, 2, 3]) own.remember(id(i), rev(1, i));
    expect(own.takeEcho(id(2), rev(1, 2))).toBe(true);
    for (const i of [4, 5]) own.remember(id(i), rev(1, i));
    expect([1, 3, 4, 5].map((i) => own.takeEcho(id(i), rev(1, i)))).toEqual([false, true, true, true]);
    expect(own.size).toBe(0);
    // Capacity 0 remembers nothing: every echo is read.
    const none = new OwnWrites(0);
    none.remember(id(1), rev(1, 1));
    expect(none.takeEcho(id(1), rev(1, 1))).toBe(false);
  });

  it('keep the echoes of a 20,000-message import (200,000 writes): nearly all passed over, no other revision ever', () => {
    const n = 200_000;
    const own = new OwnWrites(n);
    for (let i = 0; i < n; i++) own.remember(id(i), rev(1, i));
    // Two ids may share a key (31 bits): the older one's echo is then read as usual.
    expect(own.size).toBeGreaterThan(n - 100);
    let wrong = 0;
    for (let i = 0; i < n; i++) if (own.takeEcho(id(i), rev(2, i))) wrong++;
    expect(wrong).toBe(0);
    let taken = 0;
    for (let i = 0; i < n; i++) if (own.takeEcho(id(i), rev(1, i))) taken++;
    expect(taken).toBeGreaterThan(n - 100);
    expect(own.size).toBe(0);
  });
});
