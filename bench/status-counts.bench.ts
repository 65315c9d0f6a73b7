import { join } from 'node:path';
import { docIdFor } from '../src/core/index.js';
import { projectRoot } from '../src/core/entry-points.js';
import { bulkWrite } from '../src/couch/bulk-write.js';
import type { Couch } from '../src/couch/connect.js';
import { callCouch } from '../src/couch/connect.js';
import { countBySchema } from '../src/couch/count-by-schema.js';
import { destroyDatabase, ensureDatabase } from '../src/couch/ensure-database.js';
import { pushDesignDocs, readDesignDocs } from '../src/couch/push-design-docs.js';
import type { Benchmark, Measurement } from './harness.js';
import { median } from './harness.js';

/** About what importing and processing 2,000 messages leaves (ten documents each). */
const docs = 20_000;
const schemas = ['rd.msg.rfc822', 'rd.msg.email', 'rd.msg.body', 'rd.msg.body.quoted', 'rd.msg.thread', 'rd.msg.conversation', 'rd.msg.identities', 'rd.msg.grouping-tag', 'rd.attach.link', 'rd.core.error'];

/**
 * The first `raindrop status` after a big import: counting documents per schema from the
 * ids (`countBySchema`, what status does now) against the by_schema view it used to query,
 * whose first query indexes every document. Reported as the view's first query over the
 * id count, both measured here on the same fresh database.
 */
export function statusCountsBenchmark(couch: Couch): Benchmark {
  return {
    name: 'status-counts',
    async run({ log }) {
      const { db } = await ensureDatabase(couch, `bench_status_${Date.now()}`);
      try {
        await pushDesignDocs(db, await readDesignDocs(join(projectRoot, 'couchapp', 'ddocs')));
        for (let i = 0; i < docs; i += 1000) {
          await bulkWrite(db, Array.from({ length: 1000 }, (_, k) => {
            const n = i + k;
            const schema = schemas[n % schemas.length] as string;
            return { _id: docIdFor(['email', `m${Math.floor(n / schemas.length)}@bench`], schema), rd_key: ['email', `m${Math.floor(n / schemas.length)}@bench`], rd_schema_id: schema, rd_schema_items: {}, text: 'x'.repeat(500) };
          }));
        }
        log(`status-counts: ${docs} documents written`);
        const idTimes: number[] = [];
        for (let r = 0; r < 3; r++) {
          const started = performance.now();
          const counts = await countBySchema(db);
          idTimes.push(performance.now() - started);
          if (Object.values(counts.schemas).reduce((a, b) => a + b, 0) !== docs) throw new Error('countBySchema missed documents');
        }
        const started = performance.now();
        await callCouch(couch, 'by_schema', () => db.scope.view('rd_core', 'by_schema', { group: true }));
        const firstView = performance.now() - started;
        const idMs = median(idTimes);
        const out: Measurement[] = [
          { name: 'status-counts.ids', value: idMs, unit: 'ms', notes: `${docs} docs, _all_docs ids (median of 3)` },
          { name: 'status-counts.view-first-query', value: firstView, unit: 'ms', notes: 'rd_core/by_schema, first query (index build)' },
          { name: 'status-counts.view-first-over-ids', value: firstView / idMs, unit: 'ratio', ratioOf: 'status-counts.ids', notes: 'how much longer the old status waited' },
        ];
        return out;
      } finally {
        await destroyDatabase(couch, db.name);
      }
    },
  };
}
