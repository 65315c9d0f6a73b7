/**
 * The door of the shared test server: nothing anonymous reaches the data. Written to pass
 * on the embedded server and on a real CouchDB 3.x alike (both refuse anonymous access by
 * default); assertions about the embedded server only are marked as such.
 */

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { basicAuth, request, sessionCookieFrom, uniqueDbName } from '../helpers/embedded-helpers.js';
import { onlyOn } from '../helpers/server-kind.js';

const couch = inject('couch');
const admin = { authorization: basicAuth(couch.username, couch.password) };
const db = uniqueDbName('embedded-auth');
// CouchDB answers anonymous requests with WWW-Authenticate and its own welcome; both are
// the embedded server's own choices (no browser login pop-up, its vendor name).
const embeddedOnly = onlyOn('embedded', 'the welcome and the 401 headers are the embedded server\'s own');

beforeAll(async () => {
  expect((await request(couch.url, 'PUT', `/${db}`, { headers: admin })).status).toBe(201);
  const put = await request(couch.url, 'PUT', `/${db}/doc1`, { headers: admin, json: { secret: 'mail' } });
  expect(put.status).toBe(201);
});

afterAll(async () => {
  await request(couch.url, 'DELETE', `/${db}`, { headers: admin });
});

describe('anonymous requests', () => {
  const newDb = uniqueDbName('embedded-anon');
  const refused: Array<[string, string, unknown?]> = [
    ['GET', `/${db}`],
    ['GET', `/${db}/doc1`],
    ['GET', `/${db}/_all_docs`],
    ['GET', `/${db}/_changes`],
    ['POST', `/${db}`, { a: 1 }],
    ['PUT', `/${db}/doc2`, { a: 1 }],
    ['DELETE', `/${db}`],
    ['PUT', `/${newDb}`],
    ['GET', '/_all_dbs'],
  ];

  it.each(refused)('%s %s is refused with 401', async (method, path, json) => {
    const response = await request(couch.url, method, path, json === undefined ? {} : { json });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: 'unauthorized' });
  });

  it('changed nothing, and the server still answers', async () => {
    expect((await request(couch.url, 'GET', '/')).status).toBe(200);
    expect((await request(couch.url, 'GET', `/${newDb}`, { headers: admin })).status).toBe(404);
    const doc = await request(couch.url, 'GET', `/${db}/doc1`, { headers: admin });
    expect(doc.status).toBe(200);
    expect(doc.body).toMatchObject({ secret: 'mail' });
    expect((await request(couch.url, 'GET', `/${db}/doc2`, { headers: admin })).status).toBe(404);
  });

  it.skipIf(embeddedOnly.skip)(`get no WWW-Authenticate header, so browsers show no login dialog ${embeddedOnly.label}`, async () => {
    const response = await request(couch.url, 'GET', `/${db}`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBeNull();
  });

  it.skipIf(embeddedOnly.skip)(`GET / answers with the CouchDB-style welcome ${embeddedOnly.label}`, async () => {
    const response = await request(couch.url, 'GET', '/');
    expect(response.body).toMatchObject({
      couchdb: 'Welcome',
      vendor: { name: 'Raindrop embedded server (express-pouchdb)' },
    });
  });
});

describe('basic auth', () => {
  it('works with the admin credentials', async () => {
    const response = await request(couch.url, 'GET', `/${db}`, { headers: admin });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ db_name: db });
  });

  it('refuses a wrong password', async () => {
    const headers = { authorization: basicAuth(couch.username, `${couch.password}x`) };
    const response = await request(couch.url, 'GET', `/${db}`, { headers });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: 'unauthorized' });
  });

  it('refuses an unknown user', async () => {
    const headers = { authorization: basicAuth('mallory', couch.password) };
    expect((await request(couch.url, 'GET', `/${db}`, { headers })).status).toBe(401);
  });
});

describe('_session', () => {
  it('logs in, opens the data with the cookie, logs out', async () => {
    const login = await request(couch.url, 'POST', '/_session', {
      json: { name: couch.username, password: couch.password },
    });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ ok: true, name: couch.username });
    expect((login.body as { roles: string[] }).roles).toContain('_admin');
    const cookie = sessionCookieFrom(login);
    expect(cookie).toMatch(/^AuthSession=./);
    const setCookie = login.headers.getSetCookie().join('\n');
    expect(setCookie).toMatch(/HttpOnly/i);

    const withCookie = { cookie: cookie ?? '' };
    const read = await request(couch.url, 'GET', `/${db}/doc1`, { headers: withCookie });
    expect(read.status).toBe(200);

    const session = await request(couch.url, 'GET', '/_session', { headers: withCookie });
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ ok: true, userCtx: { name: couch.username }, info: { authenticated: 'cookie' } });

    const logout = await request(couch.url, 'DELETE', '/_session', { headers: withCookie });
    expect(logout.status).toBe(200);
    // The browser keeps what the server told it: the cookie is gone.
    const afterLogout = sessionCookieFrom(logout);
    expect(afterLogout).toBe('');
    const refused = await request(couch.url, 'GET', `/${db}/doc1`, afterLogout ? { headers: { cookie: afterLogout } } : {});
    expect(refused.status).toBe(401);
  });

  it('accepts a form-encoded login', async () => {
    const body = new URLSearchParams({ name: couch.username, password: couch.password }).toString();
    const login = await request(couch.url, 'POST', '/_session', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(login.status).toBe(200);
    expect(sessionCookieFrom(login)).toMatch(/^AuthSession=./);
  });

  it('refuses a wrong password without granting a session cookie', async () => {
    const login = await request(couch.url, 'POST', '/_session', {
      json: { name: couch.username, password: 'wrong' },
    });
    expect(login.status).toBe(401);
    expect(login.body).toEqual({ error: 'unauthorized', reason: 'Name or password is incorrect.' });
    // The embedded server sets no cookie; CouchDB 3.x sets an empty "AuthSession=" that
    // clears any session the browser had. Both are refusals; a non-empty value is not.
    const cookie = sessionCookieFrom(login);
    expect(cookie === undefined || cookie === '').toBe(true);
    if (couch.embedded) expect(cookie).toBeUndefined();
    else expect(login.headers.getSetCookie().join('\n')).toMatch(/^AuthSession=;/);
  });

  it('describes an anonymous session', async () => {
    const session = await request(couch.url, 'GET', '/_session');
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ ok: true, userCtx: { name: null, roles: [] } });
  });

  it('does not accept a forged cookie', async () => {
    const forged = { cookie: 'AuthSession=YWRtaW4.ffffffff.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    // CouchDB answers 400 to a cookie it cannot parse; the embedded server ignores it (401).
    expect([400, 401]).toContain((await request(couch.url, 'GET', `/${db}`, { headers: forged })).status);
  });
});
