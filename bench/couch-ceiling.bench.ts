import { randomBytes } from 'node:crypto';
import { docIdFor } from '../src/core/index.js';
import { bulkWrite } from '../src/couch/bulk-write.js';
import { followChanges } from '../src/couch/changes-follower.js';
import type { Couch } from '../src/couch/connect.js';
import { destroyDatabase, ensureDatabase } from '../src/couch/ensure-database.js';
import type { Benchmark, Measurement } from './harness.js';
import { median } from './harness.js';

/** What the spec of issue 2 fixes: 2 KB documents, batches of 500. */
const docBytes = 2048;
const batchSize = 500;
const batches = 20;
const rounds = 3;

function makeDocs(round: number, batch: number): Array<{ _id: string; body: string; n: number }> {
  // base64 of 1536 random bytes is 2048 characters: a 2 KB document that does not compress.
  return Array.from({ length: batchSize }, (_, i) => ({
    _id: docIdFor(['bench', `${round}-${batch}-${i}`], 'rd.bench.doc'),
    body: randomBytes((docBytes * 3) / 4).toString('base64'),
    n: i,
  }));
}

/**
 * The CouchDB ceiling on the current server: how fast it takes `_bulk_docs` of 2 KB
 * documents in batches of 500, and how fast `_changes?include_docs=true` reads them back.
 * Everything Raindrop does is bounded by these two numbers.
 */
export function couchCeilingBenchmark(couch: Couch): Benchmark {
  return {
    name: 'couch-ceiling',
    async run(ctx) {
      const writeRates: number[] = [];
      const readRates: number[] = [];
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
          ctx.log(`round ${round + 1}/${rounds}: write ${Math.round(writeRates.at(-1) ?? 0)} docs/s, changes ${Math.round(readRates.at(-1) ?? 0)} rows/s`);
        } finally {
          await destroyDatabase(couch, name);
        }
      }
      const notes = `${batches * batchSize} docs of ${docBytes} B, median of ${rounds}`;
      const results: Measurement[] = [
        { name: 'couch.bulk_docs.write', value: median(writeRates), unit: 'docs/s', notes: `batches of ${batchSize}; ${notes}` },
        { name: 'couch.changes.read', value: median(readRates), unit: 'rows/s', notes: `include_docs; ${notes}` },
      ];
      return results;
    },
  };
}
