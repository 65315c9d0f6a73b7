/**
 * No code from the database runs outside a sandbox (issue 11, finding 1). The probes of
 * an attacker with a login: a design document whose view reaches `process` through the
 * Function constructor, `_temp_view`, filters by function. The embedded server refuses
 * them (it ran them in Node's vm inside its own process, and a login was code execution
 * on the host); real CouchDB contains them in couchjs. Either way no view hands back
 * anything from the server process.
 */

import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readShippedDesignDocs } from '../../src/couch/push-design-docs.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/couch/embedded/index.js';
import { basicAuth, request, tempDir } from '../helpers/embedded-helpers.js';
import { useTestDatabase } from '../helpers/test-database.js';
import { onlyOn } from '../helpers/server-kind.js';

const t = useTestDatabase('untrusted_code');
/** Known when tests are collected (t is filled in beforeAll). */
const embeddedOnly = onlyOn('embedded', "the embedded server's own guard against code in design documents is tested there; CouchDB runs views in couchjs");
const embedded = !embeddedOnly.skip;
let auth: Record<string, string>;
let path: (rest: string) => string;

/** Emits the server's pid when it runs in Node: proof of reaching `process`. */
const escape = "function (doc) { emit(Function('return this')().constructor.constructor('return process')().pid, 1); }";

beforeAll(async () => {
  auth = { authorization: basicAuth(t.username, t.password) };
  path = (rest) => `/${t.db.name}${rest}`;
  expect((await request(t.url, 'PUT', path('/d1'), { headers: auth, json: { n: 1 } })).status).toBe(201);
});

/** No row whose key is a number: the map function never got hold of `process.pid`. */
function expectNoPid(body: unknown): void {
  const rows = (body as { rows?: Array<{ key: unknown }> } | null)?.rows ?? [];
  expect(rows.filter((r) => typeof r.key === 'number')).toEqual([]);
}

describe('a login is not code execution on the host', () => {
  it('a design document whose view reaches for process is refused (embedded) or contained (CouchDB)', async () => {
    const put = await request(t.url, 'PUT', path('/_design/escape'), { headers: auth, json: { views: { v: { map: escape } } } });
    if (t.embedded) {
      expect(put.status).toBe(403);
      expect(put.body).toMatchObject({ error: 'forbidden', reason: expect.stringMatching(/Raindrop's own/) });
    } else {
      expect(put.status).toBe(201);
    }
    const view = await request(t.url, 'GET', path('/_design/escape/_view/v'), { headers: auth });
    expectNoPid(view.body);
  });

  it('_temp_view is refused', async () => {
    const temp = await request(t.url, 'POST', path('/_temp_view'), { headers: auth, json: { map: escape } });
    expect(temp.status).toBeGreaterThanOrEqual(400);
    expectNoPid(temp.body);
    if (t.embedded) expect(temp).toMatchObject({ status: 403, body: { error: 'forbidden' } });
  });

  // CouchDB runs design-document code in couchjs; only the embedded server refuses it.
  it.runIf(embedded)('every other way of storing code in a design document is refused [embedded server only]', async () => {
    const refusals = [
      await request(t.url, 'POST', path(''), { headers: auth, json: { _id: '_design/filters', filters: { f: 'function () { return true; }' } } }),
      await request(t.url, 'POST', path('/_bulk_docs'), { headers: auth, json: { docs: [{ _id: '_design/bulk', views: { v: { map: escape } } }] } }),
      // As replication writes: an existing revision, new_edits false.
      await request(t.url, 'POST', path('/_bulk_docs'), { headers: auth, json: { new_edits: false, docs: [{ _id: '_design/replicated', _rev: '1-0123456789abcdef0123456789abcdef', views: { v: { map: escape } } }] } }),
      await request(t.url, 'PUT', path('/_design/validate'), { headers: auth, json: { validate_doc_update: 'function () {}' } }),
      await request(t.url, 'PUT', path('/_design/shows'), { headers: auth, json: { shows: { s: 'function () { return "x"; }' } } }),
    ];
    for (const refusal of refusals) expect(refusal).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    // Nothing of it was stored.
    const all = await request(t.url, 'GET', path('/_all_docs?startkey="_design/"&endkey="_design0"'), { headers: auth });
    expect((all.body as { rows: unknown[] }).rows).toEqual([]);
  });

  it.runIf(embedded)('filters by function, _show, _list and _update are refused [embedded server only]', async () => {
    for (const url of ['/_changes?filter=_view&view=rd_core/by_schema', '/_changes?filter=anything/f', '/_design/rd_core/_show/s/d1', '/_design/rd_core/_list/l/by_schema']) {
      const response = await request(t.url, 'GET', path(url), { headers: auth });
      expect(response, url).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    }
    expect(await request(t.url, 'POST', path('/_design/rd_core/_update/u'), { headers: auth, json: {} })).toMatchObject({ status: 403 });
  });

  it("Raindrop's own views, Mango indexes and design documents of attachments only still work", async () => {
    for (const doc of await readShippedDesignDocs()) {
      expect((await request(t.url, 'PUT', path(`/${doc._id}`), { headers: auth, json: doc })).status).toBe(201);
    }
    const view = await request(t.url, 'GET', path('/_design/rd_core/_view/by_schema?reduce=false'), { headers: auth });
    expect(view.status).toBe(200);
    expect(await request(t.url, 'POST', path('/_index'), { headers: auth, json: { index: { fields: ['n'] } } })).toMatchObject({ status: 200 });
    const found = await request(t.url, 'POST', path('/_find'), { headers: auth, json: { selector: { n: 1 } } });
    expect((found.body as { docs: unknown[] }).docs).toHaveLength(1);
    const app = await request(t.url, 'PUT', path('/_design/app'), { headers: auth, json: { _attachments: { 'index.html': { content_type: 'text/html', data: Buffer.from('<p>hi</p>').toString('base64') } } } });
    expect(app.status).toBe(201);
    expect((await request(t.url, 'GET', path('/_changes'), { headers: auth })).status).toBe(200);
  });
});

describe('a design document with code stored before this version (written into LevelDB directly)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: EmbeddedServer | undefined;

  beforeAll(async () => {
    dir = await tempDir('legacy-ddoc');
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it.runIf(embedded)('is not run: its views are refused, deleting it works [embedded server only]', async () => {
    const trustedDesignDocs = await readShippedDesignDocs();
    server = await startEmbeddedServer({ dataDir: dir.path, owner: 'command', trustedDesignDocs });
    const admin = { authorization: basicAuth(server.credentials.username, server.credentials.password) };
    expect((await request(server.url, 'PUT', '/legacy', { headers: admin })).status).toBe(201);
    expect((await request(server.url, 'PUT', '/legacy/d1', { headers: admin, json: { n: 1 } })).status).toBe(201);
    await server.stop();

    // What an older Raindrop let anyone with the login store.
    const require = createRequire(import.meta.url);
    const PouchDB = (require('pouchdb-core') as { plugin(p: unknown): new (name: string) => { put(doc: unknown): Promise<unknown>; close(): Promise<void> } }).plugin(require('pouchdb-adapter-leveldb'));
    const raw = new PouchDB(`${join(dir.path, 'couch')}${sep}legacy`);
    await raw.put({ _id: '_design/old', views: { v: { map: escape } }, filters: { f: 'function () { return true; }' } });
    await raw.close();

    server = await startEmbeddedServer({ dataDir: dir.path, owner: 'command', trustedDesignDocs });
    const view = await request(server.url, 'GET', '/legacy/_design/old/_view/v', { headers: admin });
    expect(view).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expectNoPid(view.body);
    expect(await request(server.url, 'GET', '/legacy/_design/old/_view/v?stale=ok', { headers: admin })).toMatchObject({ status: 403 });
    // Deleting it is allowed: that runs nothing.
    const stored = await request(server.url, 'GET', '/legacy/_design/old', { headers: admin });
    const rev = (stored.body as { _rev: string })._rev;
    expect((await request(server.url, 'DELETE', `/legacy/_design/old?rev=${rev}`, { headers: admin })).status).toBe(200);
  });
});
