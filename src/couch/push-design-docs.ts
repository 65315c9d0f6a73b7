import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Db } from './connect.js';
import { bulkGet } from './bulk-get.js';
import { bulkWrite } from './bulk-write.js';
import type { CouchDoc } from './documents.js';
import { RaindropError, errorCodes } from '../core/index.js';
import { projectRoot } from '../core/entry-points.js';

interface ViewSource {
  map: string;
  reduce?: string;
}

/** Reads `<dir>/<ddoc>/views/<view>/{map,reduce}.js` and an optional
 * `<dir>/<ddoc>/validate_doc_update.js` into design documents. */
export async function readDesignDocs(dir: string): Promise<CouchDoc[]> {
  const docs: CouchDoc[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const viewsDir = join(dir, name, 'views');
    const views: Record<string, ViewSource> = {};
    for (const view of (await readdir(viewsDir).catch(() => [] as string[])).sort()) {
      const map = (await readFile(join(viewsDir, view, 'map.js'), 'utf8')).trim();
      const reduce = await readFile(join(viewsDir, view, 'reduce.js'), 'utf8').then((s) => s.trim(), () => undefined);
      views[view] = reduce === undefined ? { map } : { map, reduce };
    }
    const validate = await readFile(join(dir, name, 'validate_doc_update.js'), 'utf8').then((s) => s.trim(), () => undefined);
    docs.push({ _id: `_design/${name}`, language: 'javascript', views, ...(validate === undefined ? {} : { validate_doc_update: validate }) });
  }
  return docs;
}

/** What `raindrop init` installs: the project's couchapp/ddocs. The embedded server runs
 * these views and no other code from the database. */
export function readShippedDesignDocs(): Promise<CouchDoc[]> {
  return readDesignDocs(join(projectRoot, 'couchapp', 'ddocs'));
}

export interface PushResult {
  written: string[];
  unchanged: string[];
}

/**
 * Installs design documents, writing only those whose content changed: rewriting an
 * unchanged design doc would make the server rebuild its indexes for nothing.
 */
export async function pushDesignDocs(db: Db, docs: readonly CouchDoc[]): Promise<PushResult> {
  const stored = await bulkGet(db, docs.map((d) => d._id));
  const toWrite: CouchDoc[] = [];
  const unchanged: string[] = [];
  for (const doc of docs) {
    const current = stored.get(doc._id);
    const { _rev: _ignored, ...currentContent } = current ?? { _id: doc._id };
    if (current && isDeepStrictEqual(currentContent, doc)) unchanged.push(doc._id);
    else toWrite.push(current?._rev ? { ...doc, _rev: current._rev } : doc);
  }
  const results = await bulkWrite(db, toWrite);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    throw new RaindropError(
      errorCodes.COUCH_HTTP,
      `installing design documents failed for ${failed.map((f) => f.id).join(', ')}; run "raindrop init" again (a conflict means another process installed them at the same time)`,
    );
  }
  return { written: toWrite.map((d) => d._id), unchanged };
}
