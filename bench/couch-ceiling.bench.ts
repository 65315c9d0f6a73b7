import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { docIdFor } from '../src/core/index.js';
import { projectRoot } from '../src/core/entry-points.js';
import { bulkGet } from '../src/couch/bulk-get.js';
import { bulkWrite } from '../src/couch/bulk-write.js';
import { followChanges } from '../src/couch/changes-follower.js';
import { type Couch, type Db, callCouch } from '../src/couch/connect.js';
import { destroyDatabase, ensureDatabase } from '../src/couch/ensure-database.js';
import { pushDesignDocs, readDesignDocs } from '../src/couch/push-design-docs.js';
import type { Benchmark, Measurement } from './harness.js';
import { median } from './harness.js';

/** What the spec of issue 2 fixes: 2 KB documents, batches of 500. */
const docBytes = 2048;
const batchSize = 500;
const batches = 20;
const rounds = 3;

/** Keyed reads go in requests of this many ids, as the queue's lookups do. */
const readBatch = 100;

function makeDocs(round: number, batch: number): Array<{ _id: string; rd_schema_id: string; body: string; n: number }> {
  // base64 of 1536 random bytes is 2048 characters: a 2 KB document that does not compress.
  return Array.from({ length: batchSize }, (_, i) => ({
    _id: docIdFor(['bench', `${round}-${batch}-${i}`], 'rd.bench.doc'),
    rd_schema_id: `rd.bench.doc${i % 10}`,
    body: randomBytes((docBytes * 3) / 4).toString('base64'),
    n: i,
  }));
}

/** Reads every document back by id, in a shuffled order, `readBatch` ids a request. */
async function keyedReadRate(db: Db, ids: string[]): Promise<number> {
  const order = [...ids];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j] as string, order[i] as string];
  }
  const start = performance.now();
  let found = 0;
  for (let i = 0; i < order.length; i += readBatch) found += (await bulkGet(db, order.slice(i, i + readBatch))).size;
  if (found !== ids.length) throw new Error(`keyed reads found ${found} of ${ids.length} documents`);
  return ids.length / ((performance.now() - start) / 1000);
}

/** Installs Raindrop's own rd_core design document and times the first query of its
 * by_schema view, which builds the index over every document (what `status` waits for). */
async function viewBuildRate(db: Db, docCount: number): Promise<number> {
  const ddocs = (await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs'))).filter((d) => d._id === '_design/rd_core');
  await pushDesignDocs(db, ddocs);
  const start = performance.now();
  const result = (await callCouch(db.couch, 'building the by_schema view', () => db.scope.view('rd_core', 'by_schema', { reduce: true }))) as { rows: Array<{ value: number }> };
  const seconds = (performance.now() - start) / 1000;
  if (result.rows[0]?.value !== docCount) throw new Error(`by_schema counted ${result.rows[0]?.value} documents, expected ${docCount}`);
  return docCount / seconds;
}

/**
 * The same writes into a database that carries the web app's access check (the
 * `validate_doc_update` of `_design/rd_access`, issue 12's least privilege), as the mail
 * database does. CouchDB runs it in its JavaScript process for every document written,
 * the admin's too (the function returns at once for them): the ceiling the queue's
 * writes really have there.
 */
async function accessCheckedWriteRate(couch: Couch, name: string, prepared: ReadonlyArray<ReadonlyArray<{ _id: string }>>): Promise<number> {
  const { db } = await ensureDatabase(couch, name);
  try {
    await pushDesignDocs(db, (await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs'))).filter((d) => d._id === '_design/rd_access'));
    const start = performance.now();
    for (const docs of prepared) {
      const results = await bulkWrite(db, docs);
      if (results.some((r) => !r.ok)) throw new Error('a benchmark write failed');
    }
    return prepared.reduce((n, d) => n + d.length, 0) / ((performance.now() - start) / 1000);
  } finally {
    await destroyDatabase(couch, name);
  }
}

/**
 * The CouchDB ceiling on one server: how fast it takes `_bulk_docs` of 2 KB documents in
 * batches of 500, how fast `_changes?include_docs=true` reads them back, how fast they
 * are read by id, and how fast a view indexes them. Everything Raindrop does is bounded
 * by these numbers. `prefix` names the measurements ("couch" for the server the other
 * benchmarks use, so their ratios find it; another prefix for a second server).
 */
export function couchCeilingBenchmark(couch: Couch, prefix = 'couch', serverLabel = ''): Benchmark {
  return {
    name: 'couch-ceiling',
    async run(ctx) {
      const writeRates: number[] = [];
      const readRates: number[] = [];
      const keyedRates: number[] = [];
      const viewRates: number[] = [];
      const checkedRates: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const name = `bench_ceiling_${Date.now()}_${round}`;
        const { db } = await ensureDatabase(couch, name);
        try {
          const prepared = Array.from({ length: batches }, (_, b) => makeDocs(round, b));
          const writeStart = performance.now();
          for (const docs of prepared) {
            const results = await bulkWrite(db, docs);
            if (results.some((r) => !r.ok)) throw new Error('a benchmark write failed');
          }
          const writeSeconds = (performance.now() - writeStart) / 1000;
          writeRates.push((batches * batchSize) / writeSeconds);

          let rows = 0;
          const readStart = performance.now();
          const follower = followChanges(db, { until: 'head', includeDocs: true, onBatch: (b) => { rows += b.rows.length; } });
          await follower.done;
          const readSeconds = (performance.now() - readStart) / 1000;
          if (rows !== batches * batchSize) throw new Error(`read ${rows} changes, expected ${batches * batchSize}`);
          readRates.push(rows / readSeconds);
          keyedRates.push(await keyedReadRate(db, prepared.flat().map((d) => d._id)));
          viewRates.push(await viewBuildRate(db, batches * batchSize));
          checkedRates.push(await accessCheckedWriteRate(couch, `${name}_checked`, prepared));
          const r = (rates: number[]) => Math.round(rates.at(-1) ?? 0);
          ctx.log(`${serverLabel || prefix} round ${round + 1}/${rounds}: write ${r(writeRates)} docs/s (${r(checkedRates)} with the access check), changes ${r(readRates)} rows/s, keyed reads ${r(keyedRates)} docs/s, view build ${r(viewRates)} docs/s`);
        } finally {
          await destroyDatabase(couch, name);
        }
      }
      const notes = `${batches * batchSize} docs of ${docBytes} B, median of ${rounds}${serverLabel ? `; ${serverLabel}` : ''}`;
      const results: Measurement[] = [
        { name: `${prefix}.bulk_docs.write`, value: median(writeRates), unit: 'docs/s', notes: `batches of ${batchSize}; ${notes}` },
        { name: `${prefix}.changes.read`, value: median(readRates), unit: 'rows/s', notes: `include_docs; ${notes}` },
        { name: `${prefix}.keyed.read`, value: median(keyedRates), unit: 'docs/s', notes: `_all_docs keys, ${readBatch} ids a request, shuffled; ${notes}` },
        { name: `${prefix}.bulk_docs.write-access-checked`, value: median(checkedRates), unit: 'docs/s', notes: `the same writes into a database with _design/rd_access (validate_doc_update), as the mail database has; ${notes}` },
        // What the access check adds per document written (its JavaScript process, once a
        // document): on CouchDB the term that bounds every access-checked write.
        { name: `${prefix}.bulk_docs.access-check-cost`, value: 1000 / median(checkedRates) - 1000 / median(writeRates), unit: 'ms/doc', notes: `1000 / write-access-checked - 1000 / write; ${notes}` },
        { name: `${prefix}.view.build`, value: median(viewRates), unit: 'docs/s', notes: `rd_core/by_schema index built from scratch; ${notes}` },
      ];
      return results;
    },
  };
}
