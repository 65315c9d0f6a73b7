/**
 * The embedded server's keyed `_all_docs` (src/couch/embedded/keyed-reads.ts) against
 * PouchDB's own: two LevelDB databases with the same revision histories (written with
 * `new_edits: false`, so the revisions are equal), one read through the point reads and
 * one through PouchDB, give the same answer for every form of keyed read, with present,
 * absent, deleted, conflicted, design, local and attachment-carrying documents, and
 * repeated keys.
 */

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKeyedReads } from '../../src/couch/embedded/keyed-reads.js';
import { tempDir } from '../helpers/embedded-helpers.js';

const require = createRequire(import.meta.url);

interface Db {
  bulkDocs(docs: unknown, options?: unknown): Promise<unknown>;
  put(doc: unknown): Promise<unknown>;
  allDocs(options: unknown): Promise<{ total_rows?: number; rows: Array<Record<string, unknown>> }>;
  close(): Promise<void>;
}
interface PouchDBClass {
  prototype: Record<string, unknown>;
  plugin(p: unknown): PouchDBClass;
  defaults(options: unknown): PouchDBClass;
  new (name: string): Db;
}
const load = () => (require('pouchdb-core') as PouchDBClass).plugin(require('pouchdb-adapter-leveldb'));

const rev = (generation: number, letter: string) => `${generation}-${letter.repeat(32)}`;
const history: unknown[] = [
  { _id: 'present', _rev: rev(1, 'a'), n: 1 },
  { _id: 'edited', _rev: rev(1, 'a'), n: 1 },
  { _id: 'edited', _rev: rev(2, 'b'), _revisions: { start: 2, ids: ['b'.repeat(32), 'a'.repeat(32)] }, n: 2 },
  { _id: 'gone', _rev: rev(1, 'a'), n: 1 },
  { _id: 'gone', _rev: rev(2, 'c'), _revisions: { start: 2, ids: ['c'.repeat(32), 'a'.repeat(32)] }, _deleted: true },
  { _id: 'raced', _rev: rev(1, 'a'), side: 'a' },
  { _id: 'raced', _rev: rev(1, 'e'), side: 'e' },
  { _id: '_design/d', _rev: rev(1, 'a'), views: {} },
  { _id: 'with-file', _rev: rev(1, 'a'), _attachments: { 'a.txt': { content_type: 'text/plain', data: Buffer.from('hello').toString('base64') } } },
  { _id: 'ünïcode ✓', _rev: rev(1, 'a'), n: 3 },
];
const keys = ['present', 'absent', 'edited', 'gone', 'raced', '_design/d', '_local/l', 'with-file', 'ünïcode ✓', 'present', 'also-absent', '_reserved'];

describe('keyed _all_docs as point reads', () => {
  let dirs: Array<{ remove(): Promise<void> }> = [];
  let pouch: Db;
  let point: Db;
  let pointReads = 0;

  beforeAll(async () => {
    const plain = await tempDir('keyed-plain');
    const patched = await tempDir('keyed-point');
    dirs = [plain, patched];
    // A class of its own (PouchDB's `defaults`), so the other database reads as PouchDB does.
    const Patched = load().defaults({});
    // Counts the point reads, so the comparisons below are known to take that path.
    const get = Patched.prototype.get as (...args: unknown[]) => unknown;
    Patched.prototype.get = function (this: unknown, ...args: unknown[]) {
      pointReads += 1;
      return get.apply(this, args);
    };
    installKeyedReads(Patched);
    pouch = new (load())(join(plain.path, 'db'));
    point = new Patched(join(patched.path, 'db'));
    for (const db of [pouch, point]) {
      await db.bulkDocs(history, { new_edits: false });
      await db.put({ _id: '_local/l', n: 1 });
    }
  });

  afterAll(async () => {
    await pouch?.close();
    await point?.close();
    for (const dir of dirs) await dir.remove();
  });

  const forms: Array<Record<string, unknown>> = [
    { keys },
    { keys, include_docs: true },
    { keys, include_docs: true, conflicts: true },
    { keys, conflicts: true },
    { keys: [] },
    // Not the plain form: PouchDB's own answer, unchanged.
    { keys, include_docs: true, attachments: true },
    { keys: ['present', ''], include_docs: true },
  ];
  for (const form of forms) {
    it(`gives PouchDB's answer for ${JSON.stringify({ ...form, keys: (form.keys as string[]).length })}`, async () => {
      // Copies: PouchDB adds its own options to the object it is given.
      const expected = await pouch.allDocs({ ...form });
      const before = pointReads;
      const actual = await point.allDocs({ ...form });
      expect(actual).toEqual(expected);
      const plain = !('attachments' in form) && !(form.keys as string[]).includes('');
      expect(pointReads - before, 'point reads').toBe(plain ? (form.keys as string[]).filter((k) => !k.startsWith('_local/')).length : 0);
    });
  }

  it('answers the plain form with rows a reader can tell apart', async () => {
    const { rows, total_rows } = await point.allDocs({ keys, include_docs: true, conflicts: true });
    expect(total_rows).toBe(6);
    const byKey = new Map(rows.map((r) => [r.key, r]));
    expect(byKey.get('absent')).toEqual({ key: 'absent', error: 'not_found' });
    expect(byKey.get('_local/l')).toEqual({ key: '_local/l', error: 'not_found' });
    expect(byKey.get('_reserved')).toEqual({ key: '_reserved', error: 'not_found' });
    expect(byKey.get('gone')).toMatchObject({ id: 'gone', value: { rev: rev(2, 'c'), deleted: true }, doc: null });
    expect(byKey.get('raced')).toMatchObject({ value: { rev: rev(1, 'e') }, doc: { side: 'e', _conflicts: [rev(1, 'a')] } });
    expect(byKey.get('with-file')).toMatchObject({ doc: { _attachments: { 'a.txt': { stub: true, length: 5 } } } });
  });
});
