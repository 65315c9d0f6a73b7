/**
 * The auth gate in process, in front of a stub instead of express-pouchdb: what reaches
 * the inside, and the cookie's life (expiry, renewal, forgery), which the server tests
 * cannot observe.
 */

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthGate, signSessionCookie } from '../../src/couch/embedded/auth-gate.js';
import { SESSION_TIMEOUT_S } from '../../src/couch/embedded/limits.js';
import { basicAuth, request, sessionCookieFrom } from '../helpers/embedded-helpers.js';
import { onlyOn } from '../helpers/server-kind.js';

// The gate runs here in process, in front of a stub: it does not use the run's server, so
// the embedded pass covers it and the CouchDB pass skips it.
const embeddedOnly = onlyOn('embedded', 'the auth gate is the embedded server\'s own door (CouchDB has its own), tested in process in the embedded pass');

const username = 'admin';
const password = 'correct horse battery staple';
const cookieSecret = 'test-secret';
let clock = Date.now();
interface Seen {
  url: string | undefined;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
}
let seen: Seen | undefined;
/** Read through a function: TypeScript cannot see that the handler assigns `seen`. */
const lastSeen = (): Seen | undefined => seen;
let server: Server;
let url: string;

describe.skipIf(embeddedOnly.skip)(`the auth gate ${embeddedOnly.label}`, () => {
  beforeAll(async () => {
    const gate = createAuthGate({
      username,
      password,
      cookieSecret,
      version: '0.0.0-test',
      now: () => clock,
      next: (req, res) => {
        seen = { url: req.url, headers: { ...req.headers }, rawHeaders: [...req.rawHeaders] };
        res.setHeader('Content-Type', 'application/json');
        res.end('{"inside":true}');
      },
    });
    server = createServer(gate);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const login = async () => {
    const response = await request(url, 'POST', '/_session', { json: { name: username, password } });
    expect(response.status).toBe(200);
    return sessionCookieFrom(response) as string;
  };

  it('forwards authenticated requests without their credentials', async () => {
    seen = undefined;
    const cookie = await login();
    const response = await request(url, 'GET', '/db/doc?x=1', {
      headers: { authorization: basicAuth(username, password), cookie: `${cookie}; other=1`, 'x-keep': 'yes' },
    });
    expect(response.body).toEqual({ inside: true });
    const inside = lastSeen();
    expect(inside?.url).toBe('/db/doc?x=1');
    expect(inside?.headers.authorization).toBeUndefined();
    expect(inside?.headers.cookie).toBeUndefined();
    expect(inside?.headers['x-keep']).toBe('yes');
    const raw = inside?.rawHeaders.map((h) => h.toLowerCase()) ?? [];
    expect(raw).not.toContain('authorization');
    expect(raw).not.toContain('cookie');
  });

  it('forwards nothing unauthenticated', async () => {
    seen = undefined;
    for (const [method, path] of [['GET', '/db'], ['PUT', '/newdb'], ['GET', '/_all_dbs'], ['GET', '//'], ['GET', '/%5Fsession']] as const) {
      expect((await request(url, method, path)).status).toBe(401);
    }
    expect((await request(url, 'GET', '/db', { headers: { authorization: 'Bearer x' } })).status).toBe(401);
    expect((await request(url, 'GET', '/db', { headers: { authorization: 'Basic !!!' } })).status).toBe(401);
    expect(lastSeen()).toBeUndefined();
  });

  it('sets a strict, HttpOnly cookie on login', async () => {
    const response = await request(url, 'POST', '/_session', { json: { name: username, password } });
    const line = response.headers.getSetCookie()[0] ?? '';
    expect(line).toMatch(/^AuthSession=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Strict$/);
  });

  it('refuses an expired cookie, and one signed with another secret or for another user', async () => {
    const cookie = await login();
    clock += (SESSION_TIMEOUT_S + 1) * 1000;
    try {
      expect((await request(url, 'GET', '/db', { headers: { cookie } })).status).toBe(401);
    } finally {
      clock = Date.now();
    }
    const expires = Math.floor(clock / 1000) + 600;
    const otherSecret = signSessionCookie(username, expires, `other\n${password}`);
    expect((await request(url, 'GET', '/db', { headers: { cookie: `AuthSession=${otherSecret}` } })).status).toBe(401);
    const otherUser = signSessionCookie('mallory', expires, `${cookieSecret}\n${password}`);
    expect((await request(url, 'GET', '/db', { headers: { cookie: `AuthSession=${otherUser}` } })).status).toBe(401);
    const good = signSessionCookie(username, expires, `${cookieSecret}\n${password}`);
    expect((await request(url, 'GET', '/db', { headers: { cookie: `AuthSession=${good}` } })).status).toBe(200);
  });

  it('renews the cookie once part of its lifetime has passed', async () => {
    const cookie = await login();
    const fresh = await request(url, 'GET', '/db', { headers: { cookie } });
    expect(fresh.headers.getSetCookie()).toEqual([]);
    clock += SESSION_TIMEOUT_S * 500; // half of it, in ms
    try {
      const later = await request(url, 'GET', '/db', { headers: { cookie } });
      expect(later.status).toBe(200);
      expect(sessionCookieFrom(later)).toMatch(/^AuthSession=./);
      expect(sessionCookieFrom(later)).not.toBe(cookie);
    } finally {
      clock = Date.now();
    }
  });

  it('answers _session errors the CouchDB way', async () => {
    const big = await request(url, 'POST', '/_session', { json: { name: username, password: 'x'.repeat(10_000) } });
    expect(big.status).toBe(413);
    const text = await request(url, 'POST', '/_session', { headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(text.status).toBe(415);
    const badJson = await request(url, 'POST', '/_session', { headers: { 'content-type': 'application/json' }, body: '{' });
    expect(badJson.status).toBe(401);
    const put = await request(url, 'PUT', '/_session');
    expect(put.status).toBe(405);
    const wrongBasic = await request(url, 'GET', '/_session', { headers: { authorization: basicAuth(username, 'no') } });
    expect(wrongBasic.status).toBe(401);
    const basic = await request(url, 'GET', '/_session', { headers: { authorization: basicAuth(username, password) } });
    expect(basic.body).toMatchObject({ userCtx: { name: username, roles: ['_admin'] }, info: { authenticated: 'default' } });
  });

  it('answers HEAD / anonymously', async () => {
    const response = await fetch(`${url}/`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
  });
});
