import { type Db, callCouch } from './connect.js';

/** Rows per `_all_docs` page: ids only, so a page is a few hundred kilobytes. */
const pageSize = 10_000;

export interface SchemaCounts {
  /** Documents per schema id. */
  schemas: Record<string, number>;
  /** Ids of the documents of the schemas asked for in `collect`. */
  collected: Record<string, string[]>;
}

/**
 * Documents per schema, read from the ids alone (`rc!<type>.<value>!<schema>`) through
 * `_all_docs`, the primary index, which the server keeps current on every write. A view
 * would have to index every document first: after a big import that build is what made
 * the first `raindrop status` take most of a minute, on the embedded server above all.
 * This costs one pass over the ids, and never waits for anything.
 */
export async function countBySchema(db: Db, collect: readonly string[] = []): Promise<SchemaCounts> {
  const schemas: Record<string, number> = {};
  const collected: Record<string, string[]> = Object.fromEntries(collect.map((s) => [s, []]));
  let startkey = 'rc!';
  for (let skip = 0; ; skip = 1) {
    const page = (await callCouch(db.couch, `counting the documents of "${db.name}"`, () =>
      db.couch.server.request({ db: db.name, path: '_all_docs', qs: { startkey, endkey: 'rc!\ufff0', limit: pageSize, skip } }),
    )) as { rows: Array<{ id: string }> };
    for (const { id } of page.rows) {
      const schemaId = id.slice(id.lastIndexOf('!') + 1);
      schemas[schemaId] = (schemas[schemaId] ?? 0) + 1;
      collected[schemaId]?.push(id);
    }
    const last = page.rows.at(-1);
    if (page.rows.length < pageSize || !last) break;
    startkey = last.id;
  }
  return { schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => (a < b ? -1 : 1))), collected };
}
