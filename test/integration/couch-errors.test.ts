import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectCouch, useDatabase } from '../../src/couch/connect.js';
import { serverInfo } from '../../src/couch/server-info.js';
import { databaseInfo } from '../../src/couch/database-info.js';
import { bulkGet } from '../../src/couch/bulk-get.js';
import { startDroppingProxy } from '../helpers/dropping-proxy.js';
import { useTestDatabase } from '../helpers/test-database.js';

const t = useTestDatabase('errors');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('errors from the server', () => {
  it('says the server is unreachable without showing the password', async () => {
    const secret = 'pa$$w0rd-nobody-should-see';
    const couch = connectCouch(`http://admin:${encodeURIComponent(secret)}@127.0.0.1:${await freePort()}`);
    const error = await serverInfo(couch).then(() => undefined, (e: unknown) => e as Error & { code: string });
    expect(error?.code).toBe('COUCH_UNREACHABLE');
    expect(error?.message).toMatch(/could not reach CouchDB at http:\/\/127\.0\.0\.1:\d+/);
    const everything = JSON.stringify({ m: error?.message, c: String((error as Error).cause), j: error, s: error?.stack });
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(encodeURIComponent(secret));
  });

  it('says when the port is one Node refuses to connect to, instead of "could not reach"', async () => {
    const couch = connectCouch('http://admin:secret-6666@127.0.0.1:6666');
    const error = await serverInfo(couch).then(() => undefined, (e: unknown) => e as Error & { code: string });
    expect(error?.code).toBe('COUCH_UNREACHABLE');
    expect(error?.message).toMatch(/Node refuses to connect to http:\/\/127\.0\.0\.1:6666.*Run CouchDB on another port/);
    expect(error?.message).not.toContain('secret-6666');
  });

  it('says the credentials are wrong without showing them', async () => {
    const secret = 'wrong-password-4711';
    const couch = connectCouch(t.url, { username: t.username, password: secret });
    const error = await databaseInfo(useDatabase(couch, t.db.name)).then(() => undefined, (e: unknown) => e as Error & { code: string; status: number });
    expect(error).toMatchObject({ code: 'COUCH_AUTH', status: 401 });
    expect(error?.message).toMatch(/refused the credentials/);
    expect(JSON.stringify({ m: error?.message, c: String(error?.cause), s: error?.stack })).not.toContain(secret);
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => connectCouch('localhost:5984')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('refuses anonymous access to data', async () => {
    const anonymous = new URL(t.url);
    anonymous.username = '';
    anonymous.password = '';
    const read = await fetch(new URL(`/${t.db.name}/_all_docs`, anonymous));
    expect(read.status).toBe(401);
    const write = await fetch(new URL(`/${t.db.name}`, anonymous), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' });
    expect(write.status).toBe(401);
  });

  it('sends a request again when its kept-alive socket was dropped while the process was busy', async () => {
    const proxy = await startDroppingProxy(t.url);
    try {
      const db = useDatabase(connectCouch(proxy.url, { username: t.username, password: t.password }), t.db.name);
      for (let round = 0; round < 3; round++) {
        // A POST (undici sends those only once by itself) opens a kept-alive socket.
        expect((await bulkGet(db, ['no-such-doc'])).size).toBe(0);
        // The server side closes it while this process is busy (a command compiling
        // schemas, a loaded machine): the close is seen only after the next request
        // went out on that socket.
        const dropped = proxy.dropConnections();
        const until = Date.now() + 300;
        while (Date.now() < until) {
          // busy
        }
        expect((await bulkGet(db, ['no-such-doc'])).size).toBe(0);
        await dropped;
      }
    } finally {
      await proxy.close();
    }
  });
});
