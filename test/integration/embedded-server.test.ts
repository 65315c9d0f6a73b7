/**
 * The embedded server's life cycle, on servers of its own (own temporary data dirs), so
 * these run whatever server the rest of the suite uses.
 */

import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRaindropError } from '../../src/core/errors.js';
import {
  acquireServerRecord,
  readAdminCredentials,
  readLiveServerRecord,
  readServerRecord,
  releaseServerRecord,
  startEmbeddedServer,
  type EmbeddedServer,
} from '../../src/couch/embedded/index.js';
import { basicAuth, eventually, request, tempDir } from '../helpers/embedded-helpers.js';
import { onlyOn } from '../helpers/server-kind.js';

const isPosix = process.platform !== 'win32';
// These start embedded servers of their own and do not use the run's server: the embedded
// pass covers them, the CouchDB pass skips them.
const embeddedOnly = onlyOn('embedded', 'they test the embedded server\'s own life cycle and supervisor, covered by the embedded pass');

describe.skipIf(embeddedOnly.skip)(`an embedded server of its own ${embeddedOnly.label}`, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let dataDir: string;
  let server: EmbeddedServer;
  let admin: Record<string, string>;

  beforeAll(async () => {
    dir = await tempDir('embedded');
    // A directory that does not exist yet: the server creates it.
    dataDir = join(dir.path, 'nested', 'data');
    server = await startEmbeddedServer({ dataDir, owner: 'command' });
    admin = { authorization: basicAuth(server.credentials.username, server.credentials.password) };
    expect((await request(server.url, 'PUT', '/mail', { headers: admin })).status).toBe(201);
  });

  afterAll(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it('listens on 127.0.0.1 and gives a URL without credentials', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.credentials.username).toBe('admin');
    expect(server.credentials.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it.runIf(isPosix)('keeps the data private: dir 0700, admin.json and server.json 0600', async () => {
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, 'admin.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'server.json'))).mode & 0o777).toBe(0o600);
  });

  it('stores the credentials it uses in admin.json', async () => {
    const stored = await readAdminCredentials(dataDir);
    expect(stored).toMatchObject(server.credentials);
    expect(stored?.cookieSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('records itself as the owner of the data dir', async () => {
    const record = await readLiveServerRecord(dataDir);
    expect(record).toMatchObject({ pid: process.pid, url: server.url, port: server.port, owner: 'command' });
    expect(JSON.stringify(record)).not.toContain(server.credentials.password);
  });

  it('refuses a second server on the same data dir (EMBEDDED_LOCKED)', async () => {
    const error: unknown = await startEmbeddedServer({ dataDir, owner: 'serve' }).catch((e: unknown) => e);
    expect(isRaindropError(error, 'EMBEDDED_LOCKED')).toBe(true);
    expect((error as Error).message).toContain(String(process.pid));
    expect((error as Error).message).toContain(server.url);
    // The refused attempt must not have disturbed the owner's record.
    expect(await readLiveServerRecord(dataDir)).toMatchObject({ url: server.url });
  });

  it('serves design-doc attachments with their content type (the web app)', async () => {
    const html = '<!doctype html><title>Raindrop</title>';
    const js = 'console.log("raindrop");';
    const ddoc = await request(server.url, 'PUT', '/mail/_design/app', {
      headers: admin,
      json: {
        _attachments: {
          'index.html': { content_type: 'text/html', data: Buffer.from(html).toString('base64') },
          'js/app.js': { content_type: 'application/javascript', data: Buffer.from(js).toString('base64') },
        },
      },
    });
    expect(ddoc.status).toBe(201);
    const page = await fetch(`${server.url}/mail/_design/app/index.html`, { headers: admin });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toBe(html);
    const script = await fetch(`${server.url}/mail/_design/app/js/app.js`, { headers: admin });
    expect(script.headers.get('content-type')).toMatch(/^application\/javascript/);
    expect(await script.text()).toBe(js);
    expect((await fetch(`${server.url}/mail/_design/app/index.html`)).status).toBe(401);
  });

  it('offers the CouchDB endpoints clients rely on (_uuids, _find, _security)', async () => {
    const uuids = await request(server.url, 'GET', '/_uuids?count=2', { headers: admin });
    expect((uuids.body as { uuids: string[] }).uuids).toHaveLength(2);
    await request(server.url, 'PUT', '/mail/m1', { headers: admin, json: { kind: 'message' } });
    const found = await request(server.url, 'POST', '/mail/_find', {
      headers: admin,
      json: { selector: { kind: 'message' } },
    });
    expect(found.status).toBe(200);
    expect((found.body as { docs: unknown[] }).docs).toHaveLength(1);
    const security = { admins: { names: [], roles: [] }, members: { names: [], roles: ['_admin'] } };
    expect((await request(server.url, 'PUT', '/mail/_security', { headers: admin, json: security })).status).toBe(200);
    expect((await request(server.url, 'GET', '/mail/_security', { headers: admin })).body).toEqual(security);
    expect((await request(server.url, 'GET', '/mail/m1', { headers: admin })).status).toBe(200);
  });

  it('restarts a killed child on the same port, and requests work again', async () => {
    const before = server.childPid;
    expect(before).toBeDefined();
    process.kill(before as number, 'SIGKILL');
    const info = await eventually(async () => {
      if (server.childPid === undefined || server.childPid === before) return undefined;
      const response = await request(server.url, 'GET', '/mail', { headers: admin });
      return response.status === 200 ? response.body : undefined;
    });
    expect(info).toMatchObject({ db_name: 'mail' });
    expect(server.restarts).toBe(1);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect((await request(server.url, 'GET', '/mail/m1', { headers: admin })).status).toBe(200);
    expect((await request(server.url, 'GET', '/mail')).status).toBe(401);
  });

  it('stops, releases the data dir, and starts again with the same admin and data', async () => {
    const childPid = server.childPid as number;
    const { password } = server.credentials;
    await server.stop();
    await server.stop(); // idempotent
    expect(isAlive(childPid)).toBe(false);
    expect(await readServerRecord(dataDir)).toBeUndefined();
    expect(await readLiveServerRecord(dataDir)).toBeUndefined();

    server = await startEmbeddedServer({ dataDir, owner: 'serve' });
    expect(server.credentials.password).toBe(password);
    const db = await request(server.url, 'GET', '/mail/m1', { headers: admin });
    expect(db.status).toBe(200);
    expect(await readLiveServerRecord(dataDir)).toMatchObject({ owner: 'serve', url: server.url });
  });
});

describe.skipIf(embeddedOnly.skip)(`server record ownership ${embeddedOnly.label}`, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    dir = await tempDir('record');
  });

  afterAll(async () => {
    await dir?.remove();
  });

  const writeRecord = (record: Record<string, unknown>) =>
    writeFile(join(dir.path, 'server.json'), JSON.stringify(record), { mode: 0o600 });

  it('replaces a stale record whose process is dead', async () => {
    const deadPid = await exitedChildPid();
    await writeRecord({ pid: deadPid, url: 'http://127.0.0.1:9', port: 9, owner: 'serve', startedAt: new Date().toISOString() });
    expect(await readLiveServerRecord(dir.path)).toBeUndefined();
    const server = await startEmbeddedServer({ dataDir: dir.path, owner: 'command' });
    try {
      expect(await readServerRecord(dir.path)).toMatchObject({ pid: process.pid, url: server.url });
      expect((await request(server.url, 'GET', '/')).status).toBe(200);
    } finally {
      await server.stop();
    }
    expect(await readServerRecord(dir.path)).toBeUndefined();
  });

  it('replaces a record with our own pid that this process does not hold (a reused pid)', async () => {
    await writeRecord({ pid: process.pid, url: 'http://127.0.0.1:9', port: 9, owner: 'serve', startedAt: '2020-01-01T00:00:00.000Z' });
    const result = await acquireServerRecord(dir.path, 'command');
    expect(result.acquired).toBe(true);
    if (result.acquired) await releaseServerRecord(result.handle);
  });

  it('yields to a live owner: waits for a starting one, refuses with EMBEDDED_LOCKED', async () => {
    // The vitest main process stands in for another live Raindrop process.
    const otherPid = process.ppid;
    await writeRecord({ pid: otherPid, owner: 'serve', startedAt: new Date().toISOString() });
    const waited = Date.now();
    const starting = await acquireServerRecord(dir.path, 'command', { urlWaitMs: 300 });
    expect(Date.now() - waited).toBeGreaterThanOrEqual(250);
    expect(starting).toMatchObject({ acquired: false, record: { pid: otherPid } });

    await writeRecord({ pid: otherPid, url: 'http://127.0.0.1:9', port: 9, owner: 'serve', startedAt: new Date().toISOString() });
    const error: unknown = await startEmbeddedServer({ dataDir: dir.path, owner: 'command' }).catch((e: unknown) => e);
    expect(isRaindropError(error, 'EMBEDDED_LOCKED')).toBe(true);
    expect((error as Error).message).toContain(String(otherPid));
    // Alive but not answering: not a server anyone can use.
    expect(await readLiveServerRecord(dir.path)).toBeUndefined();
    expect(JSON.parse(await readFile(join(dir.path, 'server.json'), 'utf8'))).toMatchObject({ pid: otherPid });
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of a process that has certainly exited. */
function exitedChildPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => (child.pid === undefined ? reject(new Error('no pid')) : resolve(child.pid)));
  });
}
