/**
 * Request limits and error answers of the server (issue 11, findings 4 and 6): a body
 * over the limit is refused with 413 before it is read and the server stays up; a
 * request that breaks the server gets a JSON error without a stack trace or framework
 * headers.
 */

import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_MAX_ATTACHMENT_BYTES, EMBEDDED_MAX_BULK_DOCS, EMBEDDED_MAX_DOCUMENT_BYTES, EMBEDDED_MAX_JSON_BODY_BYTES } from '../../src/couch/embedded/limits.js';
import { basicAuth, request, type JsonResponse } from '../helpers/embedded-helpers.js';
import { useTestDatabase } from '../helpers/test-database.js';
import { onlyOn } from '../helpers/server-kind.js';

const t = useTestDatabase('limits');
const embeddedOnly = onlyOn('embedded', "the request limits and JSON error pages are the embedded server's own; CouchDB has its own");
const embedded = !embeddedOnly.skip;
const auth = () => ({ authorization: basicAuth(t.username, t.password) });

/**
 * Announces a body of `declaredBytes` but sends only its first kilobyte, as an attacker
 * uploading a huge body would be partway through: the answer must come without the server
 * waiting for (or buffering) the rest.
 */
function startHugeUpload(method: string, path: string, declaredBytes: number, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${t.url}${path}`);
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: url.pathname + url.search,
        // A negative size: no Content-Length (the body is sent chunked).
        headers: { ...auth(), 'content-type': 'application/json', ...(declaredBytes >= 0 ? { 'content-length': String(declaredBytes) } : {}), ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
          req.destroy(); // the attacker gives up: the server would drop the rest it sent
        });
        res.on('error', reject);
      },
    );
    // The server may close the connection once it has answered.
    req.on('error', () => undefined);
    req.write(Buffer.alloc(1024, 0x20));
  });
}

function expectCleanJsonError(response: JsonResponse, status: number): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('x-powered-by')).toBeNull();
  expect(response.headers.get('content-type') ?? '').toMatch(/json|text\/plain/);
  expect(response.body).toMatchObject({ error: expect.any(String), reason: expect.any(String) });
  const text = JSON.stringify(response.body);
  expect(text).not.toMatch(/\/node_modules\/|\/work\/|\n\s+at |<html/i);
}

async function expectAlive(): Promise<void> {
  const info = await request(t.url, 'GET', `/${t.db.name}`, { headers: auth() });
  expect(info.status).toBe(200);
  expect((await request(t.url, 'PUT', `/${t.db.name}/alive-${Date.now()}`, { headers: auth(), json: { ok: 1 } })).status).toBe(201);
}

describe.runIf(embedded)('request limits [embedded server only]', () => {
  it('a JSON body or a document over the limit is refused with 413 before it is read, and the server stays up', async () => {
    const refused = await startHugeUpload('POST', `/${t.db.name}/_bulk_docs`, EMBEDDED_MAX_JSON_BODY_BYTES + 1);
    expect(refused).toMatchObject({ status: 413, body: { error: 'too_large', reason: expect.stringContaining(String(EMBEDDED_MAX_JSON_BODY_BYTES)) } });
    await expectAlive();
    const document = await startHugeUpload('PUT', `/${t.db.name}/huge-doc`, EMBEDDED_MAX_DOCUMENT_BYTES + 1);
    expect(document).toMatchObject({ status: 413, body: { error: 'too_large', reason: expect.stringContaining('per document') } });
    await expectAlive();
  });

  it('an attachment over the limit (the issue: 200 MB killed the server) is refused with 413, and the server stays up', async () => {
    const refused = await startHugeUpload('PUT', `/${t.db.name}/big/rfc822`, 200 * 1024 * 1024, { 'content-type': 'message/rfc822' });
    expect(refused).toMatchObject({ status: 413, body: { error: 'too_large', reason: expect.stringContaining(String(EMBEDDED_MAX_ATTACHMENT_BYTES)) } });
    await expectAlive();
    // One within the limit is stored.
    const bytes = Buffer.alloc(1024 * 1024, 0x61);
    const stored = await fetch(`${t.url}/${t.db.name}/small/rfc822`, { method: 'PUT', headers: { ...auth(), 'content-type': 'message/rfc822' }, body: bytes });
    expect(stored.status).toBe(201);
  });

  it('a body of unknown length (chunked) is refused with 411', async () => {
    const refused = await startHugeUpload('POST', `/${t.db.name}/_bulk_docs`, -1);
    expect(refused).toMatchObject({ status: 411, body: { error: 'length_required' } });
    await expectAlive();
  });

  it('an attachment upload cut off midway stores nothing (it stored an empty attachment)', async () => {
    const url = new URL(`${t.url}/${t.db.name}/cut/rfc822`);
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: url.hostname, port: url.port, method: 'PUT', path: url.pathname, headers: { ...auth(), 'content-type': 'message/rfc822', 'content-length': String(1024 * 1024) } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(64 * 1024, 0x61));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
    await new Promise((r) => setTimeout(r, 500));
    expect((await request(t.url, 'GET', `/${t.db.name}/cut`, { headers: auth() })).status).toBe(404);
    await expectAlive();
  });

  it('a bulk request over the document limit is refused with 413 and writes nothing', async () => {
    const docs = Array.from({ length: EMBEDDED_MAX_BULK_DOCS + 1 }, (_, i) => ({ _id: `bulk-${i}` }));
    const refused = await request(t.url, 'POST', `/${t.db.name}/_bulk_docs`, { headers: auth(), json: { docs } });
    expectCleanJsonError(refused, 413);
    expect((await request(t.url, 'GET', `/${t.db.name}/bulk-0`, { headers: auth() })).status).toBe(404);
    await expectAlive();
  });
});

describe('errors are JSON, without stack traces or framework headers', () => {
  it('a request that breaks the server (the issue: 100,000 levels of nested JSON) gets a JSON error', async () => {
    const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const typed = await request(t.url, 'POST', `/${t.db.name}`, { headers: { ...auth(), 'content-type': 'application/json' }, body: deep });
    // CouchDB stores it; the embedded server's PouchDB overflows its stack copying it.
    if (embedded) expectCleanJsonError(typed, 500);
    else if (typed.status >= 400) expectCleanJsonError(typed, typed.status);
    else expect(typed.status).toBe(201);
    await expectAlive();
  });

  it('other failures on every path of the gate and the server answer JSON too', async () => {
    expectCleanJsonError(await request(t.url, 'GET', `/${t.db.name}`), 401);
    expectCleanJsonError(await request(t.url, 'GET', '/no_such_db_here', { headers: auth() }), 404);
    expectCleanJsonError(await request(t.url, 'POST', `/${t.db.name}`, { headers: { ...auth(), 'content-type': 'application/json' }, body: '{not json' }), 400);
    expectCleanJsonError(await request(t.url, 'GET', `/${t.db.name}/missing-doc`, { headers: auth() }), 404);
    if (embedded) expectCleanJsonError(await request(t.url, 'PUT', '/_session', {}), 405);
  });
});
