import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { RaindropError, errorCodes } from '../core/index.js';
import type { Db } from './connect.js';
import { callCouch } from './connect.js';
import { statusOf } from './couch-error.js';
import { bulkWrite } from './bulk-write.js';
import type { CouchDoc } from './documents.js';

/** The design document that carries the web app as attachments, apart from the view
 * design docs so that a new app build never rebuilds an index. */
export const appDesignDocId = '_design/rd_app';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export interface AppFile {
  name: string;
  contentType: string;
  data: Buffer;
  sha256: string;
}

/** The built app (`npm run build` writes dist/couchapp/app/). */
export async function readAppFiles(dir: string): Promise<AppFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  } catch {
    throw new RaindropError(errorCodes.NOT_BUILT, `the web app is not built (${dir} is missing); run "npm run build"`);
  }
  return Promise.all(names.map(async (name) => {
    const data = await readFile(join(dir, name));
    return { name, contentType: contentTypes[extname(name)] ?? 'application/octet-stream', data, sha256: createHash('sha256').update(data).digest('hex') };
  }));
}

/**
 * Installs the app as the attachments of `_design/rd_app`, only when a file changed
 * (the stored attachments are read back and compared byte for byte: a few dozen KB). The
 * design document holds nothing but its attachments: no field a server could take for
 * code (the embedded server stores attachment-only design documents as data).
 */
export async function pushApp(db: Db, files: readonly AppFile[]): Promise<{ written: boolean }> {
  const current = await callCouch(db.couch, `reading ${appDesignDocId}`, async () => {
    try {
      return (await db.scope.get(appDesignDocId, { attachments: true })) as unknown as CouchDoc;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  });
  const stored = current?._attachments ?? {};
  const same = current !== undefined
    && Object.keys(current).every((k) => k.startsWith('_'))
    && Object.keys(stored).length === files.length
    && files.every((f) => stored[f.name]?.data === f.data.toString('base64') && stored[f.name]?.content_type === f.contentType);
  if (same) return { written: false };
  const doc: CouchDoc = {
    _id: appDesignDocId,
    ...(current?._rev ? { _rev: current._rev } : {}),
    _attachments: Object.fromEntries(files.map((f) => [f.name, { content_type: f.contentType, data: f.data.toString('base64') }])),
  };
  const [result] = await bulkWrite(db, [doc]);
  if (!result?.ok) {
    throw new RaindropError(errorCodes.COUCH_HTTP, `installing the web app (${appDesignDocId}) failed${result && !result.conflict ? `: ${result.error}` : result ? ': another process wrote it at the same time' : ''}; run "raindrop init" again`);
  }
  return { written: true };
}
