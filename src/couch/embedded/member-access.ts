/**
 * What the auth gate does for users other than the admin, so the embedded server gives
 * the web app's login the same least privilege as CouchDB (`_users`, `_security`,
 * `validate_doc_update`):
 * - the admin's `PUT/GET/DELETE /_users/org.couchdb.user:NAME` manage members, and the
 *   admin's `PUT /<db>/_security` records which members may use a database;
 * - a member may read a database it is a member of (documents, views, `_all_docs`,
 *   `_changes`, attachments), and write documents only when the database's
 *   `validate_doc_update` (couchapp/ddocs/rd_access, the same file CouchDB runs, loaded
 *   from the project, never from the database) accepts each one; nothing else.
 */
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { projectRoot } from '../../core/entry-points.js';
import type { Member, MemberStore } from './member-store.js';

/** A validate_doc_update function: throws {forbidden} or {unauthorized} to refuse. */
export type ValidateDocUpdate = (newDoc: unknown, oldDoc: unknown, userCtx: unknown, secObj: unknown) => void;

/** The validate_doc_update CouchDB runs for the mail database, read from the project's
 * couchapp/ (never from the database: no JavaScript stored there runs here). */
export async function loadValidateDocUpdate(): Promise<ValidateDocUpdate> {
  const source = await readFile(join(projectRoot, 'couchapp', 'ddocs', 'rd_access', 'validate_doc_update.js'), 'utf8');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- project code, as CouchDB evaluates it
  return new Function(`return (${source})`)() as ValidateDocUpdate;
}

/** CouchDB's max_document_size is 8 MB; a bulk write of several may be bigger. */
const MEMBER_WRITE_LIMIT_BYTES = 16 * 1024 * 1024;

const userDocPrefix = '/_users/org.couchdb.user:';
const readPosts = new Set(['_all_docs', '_bulk_get', '_changes', '_find', '_explain', '_revs_diff']);

export interface MemberAccessOptions {
  store: MemberStore;
  validate: ValidateDocUpdate;
  /** The admin's Basic header, for reading the stored version of a written document. */
  adminAuthorization: string;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'must-revalidate', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const forbidden = (res: ServerResponse, reason: string) => sendJson(res, 403, { error: 'forbidden', reason });

function readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; status: number; reason: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > MEMBER_WRITE_LIMIT_BYTES) {
        done = true;
        resolve({ ok: false, status: 413, reason: 'the request entity is too large' });
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => !done && ((done = true), resolve({ ok: false, status: 400, reason: 'the request was cut off' })));
    req.on('end', () => {
      if (done) return;
      done = true;
      try {
        resolve({ ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      } catch {
        resolve({ ok: false, status: 400, reason: 'invalid_json' });
      }
    });
  });
}

function segments(req: IncomingMessage): string[] {
  const path = new URL(req.url ?? '/', 'http://gate').pathname;
  return path.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
}

export function createMemberAccess(options: MemberAccessOptions) {
  const { store } = options;

  /** The stored documents a write replaces (oldDoc of validate_doc_update). */
  const storedDocs = (req: IncomingMessage, db: string, ids: string[]): Promise<Map<string, unknown>> => new Promise((resolve, reject) => {
    const body = JSON.stringify({ keys: ids });
    const out = httpRequest({
      host: '127.0.0.1', port: req.socket.localPort, method: 'POST', path: `/${encodeURIComponent(db)}/_all_docs?include_docs=true`,
      headers: { Authorization: options.adminAuthorization, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const rows = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { rows?: Array<{ id?: string; doc?: unknown }> }).rows ?? [];
          resolve(new Map(rows.flatMap((r) => (r.id && r.doc ? [[r.id, r.doc] as const] : []))));
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    out.on('error', reject);
    out.end(body);
  });

  return {
    /** The admin's requests that manage members; true when answered here. */
    async adminRequest(req: IncomingMessage, res: ServerResponse, forward: () => void): Promise<boolean> {
      const path = segments(req).join('/');
      if (`/${path}`.startsWith(userDocPrefix)) {
        const name = `/${path}`.slice(userDocPrefix.length);
        if (req.method === 'GET') {
          const m = store.get(name);
          if (!m) sendJson(res, 404, { error: 'not_found', reason: 'missing' });
          else sendJson(res, 200, { _id: `org.couchdb.user:${name}`, name, roles: m.roles, type: 'user' });
          return true;
        }
        if (req.method === 'DELETE') {
          sendJson(res, store.remove(name) ? 200 : 404, store.get(name) ? { error: 'not_found' } : { ok: true });
          return true;
        }
        if (req.method === 'PUT') {
          const body = await readJson(req);
          const doc = body.ok ? (body.value as { name?: unknown; password?: unknown; roles?: unknown }) : undefined;
          if (!doc || doc.name !== name || typeof doc.password !== 'string' || doc.password.length === 0 || !Array.isArray(doc.roles) || !doc.roles.every((r) => typeof r === 'string' && !r.startsWith('_'))) {
            sendJson(res, 400, { error: 'bad_request', reason: 'expected {"name", "password", "roles": [...], "type": "user"} with the name of the URL and no system roles' });
            return true;
          }
          store.put(name, doc.password, doc.roles as string[]);
          sendJson(res, 201, { ok: true, id: `org.couchdb.user:${name}` });
          return true;
        }
        return false;
      }
      const seg = segments(req);
      if (req.method === 'PUT' && seg.length === 2 && seg[1] === '_security' && seg[0]) {
        const body = await readJson(req);
        if (!body.ok) {
          sendJson(res, body.status, { error: 'bad_request', reason: body.reason });
          return true;
        }
        const sec = body.value as { members?: { names?: unknown; roles?: unknown } };
        const list = (v: unknown) => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
        store.setSecurity(seg[0], { members: { names: list(sec.members?.names), roles: list(sec.members?.roles) } });
        (req as IncomingMessage & { body?: unknown; _body?: boolean }).body = body.value;
        (req as IncomingMessage & { _body?: boolean })._body = true;
        forward();
        return true;
      }
      return false;
    },

    /** A member's request: forwarded only when CouchDB would allow it. */
    async memberRequest(req: IncomingMessage, res: ServerResponse, member: Member, forward: () => void): Promise<void> {
      const seg = segments(req);
      const method = req.method ?? 'GET';
      const [db, ...rest] = seg;
      if (db === undefined || db.startsWith('_')) {
        if (method === 'GET' && db === '_uuids') return forward();
        return forbidden(res, 'this login may only use its mail database');
      }
      if (!store.mayUse(db, member)) return forbidden(res, 'You are not allowed to access this db.');
      const first = rest[0];
      if (method === 'GET' || method === 'HEAD') return forward();
      if (method === 'POST' && first !== undefined && (readPosts.has(first) || (first === '_design' && rest[2] === '_view'))) return forward();
      const single = rest.length === 1 && first !== undefined && !first.startsWith('_');
      let docs: Array<Record<string, unknown>>;
      if (method === 'DELETE' && single) {
        docs = [{ _id: first, _deleted: true }];
      } else if ((method === 'PUT' && single) || (method === 'POST' && (rest.length === 0 || first === '_bulk_docs'))) {
        const body = await readJson(req);
        if (!body.ok) return sendJson(res, body.status, { error: 'bad_request', reason: body.reason });
        const value = body.value as Record<string, unknown> & { docs?: unknown };
        if (first === '_bulk_docs') {
          if (!Array.isArray(value.docs)) return sendJson(res, 400, { error: 'bad_request', reason: 'Missing JSON list of \'docs\'' });
          docs = value.docs as Array<Record<string, unknown>>;
        } else docs = [method === 'PUT' ? { ...value, _id: first } : value];
        (req as IncomingMessage & { body?: unknown }).body = value;
        (req as IncomingMessage & { _body?: boolean })._body = true;
      } else {
        return forbidden(res, 'this login may read the database and write user-state documents only');
      }
      const ids = docs.map((d) => (typeof d._id === 'string' ? d._id : ''));
      const stored = await storedDocs(req, db, ids.filter(Boolean));
      for (const doc of docs) {
        if (typeof doc._id !== 'string') return forbidden(res, 'every document needs its computed _id');
        try {
          options.validate(doc, stored.get(doc._id) ?? null, { db, name: member.name, roles: member.roles }, {});
        } catch (err) {
          const reason = (err as { forbidden?: unknown; unauthorized?: unknown }).forbidden ?? (err as { unauthorized?: unknown }).unauthorized;
          return forbidden(res, typeof reason === 'string' ? reason : 'refused by validate_doc_update');
        }
      }
      forward();
    },
  };
}

export type MemberAccess = ReturnType<typeof createMemberAccess>;
