/**
 * The web app's login has least privilege, on CouchDB (_users, _security,
 * validate_doc_update) and on the embedded server (its auth gate runs the same
 * validate_doc_update): it reads the mail database and writes user-state items only;
 * writing an extension, a schema, a derived item or a design document through the HTTP
 * API is refused, as is any other database. The admin still administers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installDatabase } from '../../src/cli/install.js';
import { docIdFor, silentLogger, type RdKey } from '../../src/core/index.js';
import { getDoc } from '../../src/couch/bulk-get.js';
import { destroyDatabase, ensureDatabase } from '../../src/couch/ensure-database.js';
import { applyItem } from '../../src/couch/schema-items/merge.js';
import { writeSchemaItem } from '../../src/couch/schema-items/write-schema-item.js';
import { applyUserItem } from '../../couchapp/app/src/data/user-state.js';
import { runCli } from '../helpers/run-cli.js';
import { couchUrlWithLogin } from '../helpers/serve-app.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('member');
const name = `member${randomBytes(3).toString('hex')}`;
const password = randomBytes(12).toString('hex');
const otherDb = `test_member_other_${randomBytes(3).toString('hex')}`;
let home: string;
let cookie = '';

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> & Array<Record<string, unknown>> }> {
  const res = await fetch(`${t.url}${path}`, { method, headers: { Cookie: cookie, 'Content-Type': 'application/json', Accept: 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> & Array<Record<string, unknown>> };
}
const db = () => `/${t.db.name}`;
const put = (doc: { _id: string }) => call('PUT', `${db()}/${encodeURIComponent(doc._id)}`, doc);
const message: RdKey = ['email', 'member-test@example.org'];

beforeAll(async () => {
  await installDatabase(t.couch, t.db.name, [], silentLogger);
  home = await mkdtemp(join(tmpdir(), 'raindrop-member-'));
  await writeFile(join(home, 'pw'), `${password}\n`, { mode: 0o600 });
  await writeFile(join(home, 'config.json'), '{}', { mode: 0o600 });
  const added = await runCli(['user', 'add', name, '--password-file', join(home, 'pw'), '--couch', couchUrlWithLogin(t), '--db', t.db.name, '--config', join(home, 'config.json')], {});
  expect(added.code, added.stderr).toBe(0);
  // A derived item, as the queue writes it (admin).
  await writeSchemaItem(t.db, { key: message, schemaId: 'rd.msg.body', writer: 'rd.ext.body', category: 'provider', source: { id: 'x', hash: 'y' }, fields: { text: 'hi', subject: 's', from: null, to: [], cc: [], text_source: 'plain', preview: 'hi', timestamp: 1 } });
  await ensureDatabase(t.couch, otherDb);
  const login = await fetch(`${t.url}/_session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, password }) });
  expect(login.status).toBe(200);
  cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  expect(cookie).toMatch(/^AuthSession=./);
}, 120_000);

afterAll(async () => {
  if (home) {
    await runCli(['user', 'remove', name, '--couch', couchUrlWithLogin(t), '--config', join(home, 'config.json')], {});
    await rm(home, { recursive: true, force: true });
  }
  await destroyDatabase(t.couch, otherDb).catch(() => undefined);
});

describe('the member login', () => {
  it('is a member, not an admin, and reads the mail database', async () => {
    const session = await call('GET', '/_session');
    expect((session.json.userCtx as { name: string; roles: string[] }).roles).toEqual(['raindrop']);
    expect((await call('GET', `${db()}/_all_docs?limit=1`)).status).toBe(200);
    expect((await call('GET', `${db()}/${encodeURIComponent(docIdFor(message, 'rd.msg.body'))}`)).json.text).toBe('hi');
    expect((await call('GET', `${db()}/_design/rd_mail/_view/inbox_by_grouping?limit=1`)).status).toBe(200);
    expect((await call('GET', `${db()}/_changes?limit=1`)).status).toBe(200);
  });

  it('writes user-state items as the web app builds them, and the queue can read them', async () => {
    const seen = applyUserItem(undefined, message, 'rd.msg.seen', { seen: true });
    const res = await put(seen!);
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    // The same document the back end's merge makes for `raindrop mark --seen`.
    const stored = await getDoc(t.db, docIdFor(message, 'rd.msg.seen'));
    const { _rev: _r, ...content } = stored!;
    expect(content).toEqual(applyItem(undefined, { key: message, schemaId: 'rd.msg.seen', writer: 'user', category: 'provider', confidence: 2, source: null, fields: { seen: true } }).doc);
    // A second writer (IMAP's mirror) stays untouched when the member writes again.
    await writeSchemaItem(t.db, { key: message, schemaId: 'rd.msg.flagged', writer: 'rd.imap', category: 'provider', confidence: 1, source: null, fields: { flagged: false } });
    const flagged = applyUserItem(await getDoc(t.db, docIdFor(message, 'rd.msg.flagged')) as never, message, 'rd.msg.flagged', { flagged: true });
    expect((await put(flagged!)).status).toBe(201);
    expect((await getDoc(t.db, docIdFor(message, 'rd.msg.flagged')))?.flagged).toBe(true);
    const outgoing = applyUserItem(undefined, ['email', 'draft-1@example.org'], 'rd.msg.outgoing', { account: 'a', from: { address: 'me@example.org' }, to: [], subject: '', text: 'x', state: 'draft' });
    expect((await put(outgoing!)).status).toBe(201);
  });

  it('is refused (403) writing an extension, a schema, a derived item or a forged user item', async () => {
    const refusals: Array<[string, { _id: string; _rev?: string } & Record<string, unknown>]> = [
      ['extension', { _id: docIdFor(['ext', 'evil.ext'], 'rd.ext.workqueue'), rd_key: ['ext', 'evil.ext'], rd_schema_id: 'rd.ext.workqueue', code: 'export default {}' }],
      ['new schema', { _id: docIdFor(['schema', 'evil.schema'], 'rd.core.schema'), rd_key: ['schema', 'evil.schema'], rd_schema_id: 'rd.core.schema' }],
      ['installed schema changed', { ...(await getDoc(t.db, docIdFor(['schema', 'rd.msg.seen'], 'rd.core.schema')))!, description: 'forged' }],
      ['derived item (new)', { ...applyUserItem(undefined, ['email', 'other@example.org'], 'rd.msg.body', { text: 'forged' })! }],
      ['derived item (existing)', { ...(await getDoc(t.db, docIdFor(message, 'rd.msg.body')))!, text: 'forged' } as { _id: string }],
      ['conversation summary', { ...applyUserItem(undefined, ['conv', 'x@example.org'], 'rd.conv.summary', { subject: 'x' })! }],
      // The status screen's "retry" is the admin's: it makes the queue run extension code.
      ['retry request', { ...applyUserItem(undefined, ['ext', 'rd.ext.email'], 'rd.core.retry-request', { requested_at: new Date().toISOString() })! }],
      ['user item under an id not computed from its key', { ...applyUserItem(undefined, message, 'rd.msg.seen', { seen: false })!, _id: docIdFor(['email', 'someone-else@example.org'], 'rd.msg.seen') }],
      ['another writer forged in a user-state item', { ...applyUserItem(undefined, ['email', 'forge@example.org'], 'rd.msg.seen', { seen: true })!, rd_schema_items: { user: { rd_source: null, category: 'provider', confidence: 2, schema_version: 1, content_hash: 'x', fields: { seen: true } }, 'rd.imap': { rd_source: null, category: 'provider', confidence: 9, schema_version: 1, content_hash: 'y', fields: { seen: false } } } }],
      ['a field of the wrong type', { ...applyUserItem(undefined, ['email', 'typed@example.org'], 'rd.msg.seen', { seen: 'yes' })! }],
      ['an HTML attachment on a user item', { ...applyUserItem(undefined, ['email', 'att@example.org'], 'rd.msg.seen', { seen: true })!, _attachments: { 'x.html': { content_type: 'text/html', data: Buffer.from('<script>alert(1)</script>').toString('base64') } } }],
    ];
    for (const [what, doc] of refusals) {
      const res = await put(doc);
      expect(res.status, `${what}: ${JSON.stringify(res.json)}`).toBe(403);
    }
    expect((await getDoc(t.db, docIdFor(message, 'rd.msg.body')))?.text).toBe('hi');
    expect(await getDoc(t.db, docIdFor(['ext', 'evil.ext'], 'rd.ext.workqueue'))).toBeUndefined();
  });

  it('is refused design documents, _security, deleting derived items, bulk writes of them, and other databases', async () => {
    expect([401, 403]).toContain((await put({ _id: '_design/evil', views: { x: { map: 'function (doc) { emit(1) }' } } } as { _id: string })).status);
    // CouchDB 3.5 answers a member's _security write with 500 "no_majority" (every shard
    // refuses it); refused either way, and nothing changes.
    const security = await call('PUT', `${db()}/_security`, { members: { names: [name] } });
    expect(security.status).toBeGreaterThanOrEqual(400);
    expect((await t.db.scope.get('_security') as { members?: { names?: string[] } }).members?.names ?? []).not.toContain(name);
    const body = await getDoc(t.db, docIdFor(message, 'rd.msg.body'));
    expect((await call('DELETE', `${db()}/${encodeURIComponent(body!._id)}?rev=${body!._rev}`)).status).toBe(403);
    const bulk = await call('POST', `${db()}/_bulk_docs`, { docs: [{ ...body, text: 'forged' }] });
    // CouchDB answers 201 with a per-document "forbidden"; the embedded gate refuses the request.
    expect(bulk.status === 403 || (bulk.status === 201 && bulk.json[0]?.error === 'forbidden'), JSON.stringify(bulk.json)).toBe(true);
    expect((await getDoc(t.db, docIdFor(message, 'rd.msg.body')))?.text).toBe('hi');
    expect((await call('GET', `/${otherDb}/_all_docs`)).status).toBe(403);
    expect([401, 403]).toContain((await call('PUT', `/test_member_new_${randomBytes(3).toString('hex')}`)).status);
  });

  it('leaves the admin in charge', async () => {
    const res = await fetch(`${t.url}${db()}/${encodeURIComponent(docIdFor(['ext', 'admin.ext'], 'rd.ext.workqueue'))}`, {
      method: 'PUT', headers: { Authorization: `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ rd_key: ['ext', 'admin.ext'], rd_schema_id: 'rd.ext.workqueue' }),
    });
    expect(res.status).toBe(201);
  });
});
