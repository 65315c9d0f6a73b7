/**
 * The embedded server's view engine (src/couch/embedded/view-engine.ts) against the
 * library it replaces: the same documents indexed by pouchdb-mapreduce and by the engine,
 * both on LevelDB, give the same rows for every shipped view and for the edge cases of
 * emitting (duplicate keys, missing values, NaN, nested keys, built-in reduces, a map that
 * throws). And what the engine adds: it compiles only trusted functions, and a function
 * reaches nothing of the server process.
 */

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodePolicy, type TrustedDesignDoc } from '../../src/couch/embedded/code-policy.js';
import { createViewEngine } from '../../src/couch/embedded/view-engine.js';
import { readShippedDesignDocs } from '../../src/couch/push-design-docs.js';
import { tempDir } from '../helpers/embedded-helpers.js';

const require = createRequire(import.meta.url);

interface QueryResult {
  rows: Array<{ id?: string; key: unknown; value: unknown }>;
}
interface Db {
  name: string;
  bulkDocs(docs: unknown[]): Promise<Array<{ ok?: boolean }>>;
  put(doc: unknown): Promise<unknown>;
  close(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): void;
}
type Query = (this: Db, view: string, options?: Record<string, unknown>) => Promise<QueryResult>;

const PouchDB = (require('pouchdb-core') as { plugin(p: unknown): new (name: string) => Db }).plugin(require('pouchdb-adapter-leveldb'));
const pouchMapReduce = require('pouchdb-mapreduce') as { query: Query };

/** Edge cases of emitting and reducing, trusted like the shipped views. */
const edgeDoc: TrustedDesignDoc = {
  _id: '_design/edge',
  views: {
    dup: { map: 'function (doc) { if (doc.n !== undefined) { emit(doc.n, doc.v); emit(doc.n, doc.v); emit(doc.n); } }' },
    odd: { map: 'function (doc) { if (doc.n === 2) { emit([NaN, Infinity, undefined, null], { a: undefined, b: [1, undefined], c: "é\\u2028" }); emit({ z: 1, a: 2 }, doc.missing); } }' },
    thrower: { map: 'function (doc) { if (doc.n === 3) throw new Error("no"); if (doc.n !== undefined) emit(doc.n, 1); }' },
    count: { map: 'function (doc) { if (doc.g) emit(doc.g, doc.n); }', reduce: '_count' },
    sum: { map: 'function (doc) { if (doc.g) emit(doc.g, doc.n); }', reduce: '_sum' },
    sumArrays: { map: 'function (doc) { if (doc.g) emit(doc.g, [doc.n, 1]); }', reduce: '_sum' },
    stats: { map: 'function (doc) { if (doc.g) emit(doc.g, doc.n); }', reduce: '_stats' },
    custom: { map: 'function (doc) { if (doc.g) emit(doc.g, doc.n); }', reduce: 'function (keys, values, rereduce) { return sum(values) * 10; }' },
  },
};

/** Documents of the schemas the shipped views read, and plain ones for the edge views. */
const docs = [
  { _id: 's1', rd_schema_id: 'rd.conv.summary', rd_key: ['conv', 'c1'], groupings: { personal: 1700000000, 'list:x': 1700000100 }, unread_count: 2, subject: 'Hi', latest_timestamp: 1700000100, message_count: 3, participants: [{ address: 'A@x.org' }, { address: 'a@x.org' }, { name: 'no address' }, null] },
  { _id: 's2', rd_schema_id: 'rd.conv.summary', rd_key: ['conv', 'c2'], groupings: { bulk: 1600000000 }, archived: true, unread_count: 0, participants: [] },
  { _id: 'c1', rd_schema_id: 'rd.contact', sent_by_me_count: 4, message_count: 9, last_seen: 1700000000, name: 'Ann' },
  { _id: 'l1', rd_schema_id: 'rd.attach.link', message: ['email', 'm1@x'], url: 'https://x.org/', text: 'x', host: 'x.org', position: 0 },
  { _id: 'e1', rd_schema_id: 'rd.core.error', rd_schema_items: { 'rd.ext.a': {}, 'rd.ext.b': {} } },
  { _id: 'ml1', rd_schema_id: 'rd.msg.email.mailing-list', list_id: 'openwrt-devel.lists.openwrt.org' },
  { _id: 'ml2', rd_schema_id: 'rd.msg.email.mailing-list', list_id: 'openwrt-devel.lists.openwrt.org' },
  { _id: 'o1', rd_schema_id: 'rd.msg.outgoing', rd_key: ['email', 'out@x'], state: 'queued', to: ['b@y'], subject: 'S' },
  { _id: 'u1', rd_schema_id: 'rd.msg.seen', rd_key: ['email', 'm1@x'], seen: true, rd_schema_items: { user: { content_hash: 'h' } } },
  { _id: 'b1', rd_bookkeeping_of: 'x', provenance: { src: { 'rd.ext.a': { code_hash: 'ch' } } }, rd_schema_items: { 'rd.ext.l': { rd_source: { id: 'rd!later' } } } },
  { _id: 'n1', n: 1, v: 'one', g: 'a' },
  { _id: 'n2', n: 2, g: 'a' },
  { _id: 'n3', n: 3, g: 'b' },
  { _id: 'n4', n: 4.5, v: { deep: [1, { x: 'y' }] }, g: 'b' },
];

describe('the embedded view engine', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let designDocs: TrustedDesignDoc[];
  let reference: Db;
  let engineDb: Db;
  let engine: { query: Query };
  /** What each database reports of map functions that throw (PouchDB's 'error' event). */
  const mapErrors = { reference: [] as string[], engine: [] as string[] };

  beforeAll(async () => {
    dir = await tempDir('view-engine');
    designDocs = [...(await readShippedDesignDocs()), edgeDoc];
    const policy = createCodePolicy(designDocs);
    engine = createViewEngine((source) => policy.trustsFunction(source)) as unknown as { query: Query };
    reference = new PouchDB(`${join(dir.path, 'reference')}`);
    engineDb = new PouchDB(`${join(dir.path, 'engine')}`);
    reference.on('error', (error) => mapErrors.reference.push(error.message));
    engineDb.on('error', (error) => mapErrors.engine.push(error.message));
    for (const db of [reference, engineDb]) {
      const written = await db.bulkDocs([...designDocs, ...docs]);
      expect(written.every((w) => w.ok)).toBe(true);
    }
  });
  afterAll(async () => {
    await reference?.close();
    await engineDb?.close();
    await dir?.remove();
  });

  it('gives the same rows as pouchdb-mapreduce for every view, shipped and edge cases', async () => {
    let nonEmpty = 0;
    for (const ddoc of designDocs) {
      const name = ddoc._id.slice('_design/'.length);
      for (const [view, fun] of Object.entries(ddoc.views as Record<string, { reduce?: string }>)) {
        const variants: Array<Record<string, unknown>> = fun.reduce ? [{ reduce: false }, { group: true }, {}] : [{}, { include_docs: true }];
        for (const options of variants) {
          const expected = await pouchMapReduce.query.call(reference, `${name}/${view}`, { ...options });
          const actual = await engine.query.call(engineDb, `${name}/${view}`, { ...options });
          expect(actual.rows, `${name}/${view} ${JSON.stringify(options)}`).toEqual(expected.rows);
          if (expected.rows.length > 0) nonEmpty++;
        }
      }
    }
    // The comparison is of real rows, not of empty answers.
    expect(nonEmpty).toBeGreaterThan(20);
    // A map function that throws loses that document's rows, and says so, in both.
    expect(mapErrors.engine).toEqual(['no']);
    expect(mapErrors.reference).toEqual(mapErrors.engine);
  });

  it('indexes what is written after the first build', async () => {
    const before = await engine.query.call(engineDb, 'rd_mail/messages_by_list', { group: true });
    await engineDb.put({ _id: 'ml3', rd_schema_id: 'rd.msg.email.mailing-list', list_id: 'cake.lists.bufferbloat.net' });
    const after = await engine.query.call(engineDb, 'rd_mail/messages_by_list', { group: true });
    expect(before.rows).toEqual([{ key: 'openwrt-devel.lists.openwrt.org', value: 2 }]);
    expect(after.rows).toEqual([{ key: 'cake.lists.bufferbloat.net', value: 1 }, ...before.rows]);
  });

  it('compiles no function the code policy does not trust', async () => {
    await engineDb.put({ _id: '_design/other', views: { v: { map: 'function (doc) { emit(doc._id, null); }' } } });
    await expect(engine.query.call(engineDb, 'other/v')).rejects.toMatchObject({ status: 403, name: 'forbidden' });
  });

  it('a function, even a trusted one, reaches nothing of the server process', async () => {
    const probes = [
      "emit('typeof process', typeof process)",
      "emit('typeof require', typeof require)",
      "try { emit('Function', Function('return typeof process')()); } catch (e) { emit('Function', e.name); }",
      "try { emit('emit.constructor', emit.constructor('return typeof process')()); } catch (e) { emit('emit.constructor', e.name); }",
      "try { emit('doc.constructor', doc.constructor.constructor('return typeof process')()); } catch (e) { emit('doc.constructor', e.name); }",
      "try { emit('eval', eval('typeof process')); } catch (e) { emit('eval', e.name); }",
    ];
    const map = `function (doc) { if (doc._id !== 'n1') return; ${probes.join('; ')}; }`;
    const probeDoc = { _id: '_design/probe', views: { v: { map } } };
    const policy = createCodePolicy([probeDoc]);
    const probing = createViewEngine((source) => policy.trustsFunction(source)) as unknown as { query: Query };
    await engineDb.put(probeDoc);
    const rows = (await probing.query.call(engineDb, 'probe/v')).rows;
    expect(Object.fromEntries(rows.map((r) => [r.key, r.value]))).toEqual({
      'typeof process': 'undefined',
      'typeof require': 'undefined',
      Function: 'EvalError',
      'emit.constructor': 'EvalError',
      'doc.constructor': 'EvalError',
      eval: 'EvalError',
    });
  });
});

