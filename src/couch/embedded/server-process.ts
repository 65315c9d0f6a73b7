/**
 * Entry of the embedded server's child process (forked by supervisor.ts). It runs
 * express-pouchdb on LevelDB behind the auth gate. It lives in its own process because
 * express-pouchdb can throw from a callback on a bad request: such a fault must kill only
 * this process, which the supervisor restarts, never the rest of Raindrop. So nothing here
 * catches uncaught exceptions.
 *
 * Its options arrive in the first IPC message; it answers `ready` once listening.
 */

import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join, sep } from 'node:path';
import { createAuthGate, type RequestHandler } from './auth-gate.js';
import { createCodePolicy } from './code-policy.js';
import { createViewEngine } from './view-engine.js';
import { sendJson } from './json-response.js';
import { installKeyedReads } from './keyed-reads.js';
import { installPouchGuards } from './pouchdb-guards.js';
import { createRequestPolicy } from './request-policy.js';
import { EMBEDDED_LEVELDB_CACHE_BYTES, EMBEDDED_LEVELDB_MAX_OPEN_FILES, EMBEDDED_LEVELDB_WRITE_BUFFER_BYTES, KEEP_ALIVE_TIMEOUT_MS } from './limits.js';
import { createMemberAccess, loadValidateDocUpdate } from './member-access.js';
import { MemberStore } from './member-store.js';
import { isParentMessage, type ChildMessage, type ChildStartOptions } from './protocol.js';

const require = createRequire(import.meta.url);

/**
 * The parts of express-pouchdb beyond `minimumForPouchDB` that CouchDB-API clients use.
 * `config-infrastructure` is only a dependency of `routes/uuids`; it is kept in memory
 * (`inMemoryConfig`) so nothing writes a config.json into the working directory. Left
 * out on purpose: authentication/session (the gate does that), logging (writes log.txt),
 * fauxton, config, replicator, vhosts/rewrite, and `validation`.
 */
const EXTRA_PARTS = ['config-infrastructure', 'routes/uuids', 'routes/find', 'routes/ddoc-info', 'routes/security'];

/** Left out of `minimumForPouchDB`: temporary views run code sent with the request. */
const EXCLUDED_PARTS = ['routes/temp-views'];

interface PouchDBStatic {
  prototype: Record<string, unknown>;
  plugin(plugin: unknown): PouchDBStatic;
  defaults(options: { prefix: string; maxOpenFiles: number; cacheSize: number; writeBufferSize: number }): PouchDBStatic;
}

type ErrorMiddleware = (error: unknown, req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

type ExpressApp = RequestHandler & {
  disable(setting: string): void;
  set(setting: string, value: unknown): void;
  use(handler: ErrorMiddleware): void;
};

type ExpressPouchDB = (
  pouchDB: PouchDBStatic,
  options: { mode: string; inMemoryConfig: boolean; overrideMode: { include: string[]; exclude: string[] } },
) => ExpressApp;

let server: Server | undefined;
let stopping = false;

function send(message: ChildMessage): void {
  process.send?.(message);
}

async function start(options: ChildStartOptions): Promise<void> {
  // Everything this process creates (LevelDB files) holds mail: private to the user.
  process.umask(0o077);
  const couchDir = join(options.dataDir, 'couch');
  await mkdir(couchDir, { recursive: true, mode: 0o700 });

  const policy = createCodePolicy(options.trustedDesignDocs);
  // The view engine instead of pouchdb-mapreduce, whose per-document vm contexts made
  // index builds ~10x slower (view-engine.ts).
  const BasePouchDB = (require('pouchdb-core') as PouchDBStatic)
    .plugin(require('pouchdb-adapter-leveldb'))
    .plugin(createViewEngine((source) => policy.trustsFunction(source)))
    .plugin(require('pouchdb-replication'));
  installPouchGuards(BasePouchDB, policy);
  // Keyed _all_docs as point reads instead of a range query per key (keyed-reads.ts).
  installKeyedReads(BasePouchDB);
  // The prefix is a path prefix, not a directory: it needs its trailing separator. The
  // other options go to leveldown's open of every database, view indexes included
  // (PouchDB hands its options on to dependent databases); limits.ts says why.
  const PouchDB = BasePouchDB.defaults({
    prefix: couchDir + sep,
    maxOpenFiles: EMBEDDED_LEVELDB_MAX_OPEN_FILES,
    cacheSize: EMBEDDED_LEVELDB_CACHE_BYTES,
    writeBufferSize: EMBEDDED_LEVELDB_WRITE_BUFFER_BYTES,
  });

  const expressPouchDB = require('express-pouchdb') as ExpressPouchDB;
  const app = expressPouchDB(PouchDB, {
    mode: 'minimumForPouchDB',
    inMemoryConfig: true,
    overrideMode: { include: EXTRA_PARTS, exclude: EXCLUDED_PARTS },
  });
  // Every answer is JSON, without framework headers or stack traces (express's own error
  // page is HTML with absolute paths).
  app.disable('x-powered-by');
  app.set('env', 'production');
  app.use(jsonErrors);
  const { version } = require('express-pouchdb/package.json') as { version: string };

  const store = new MemberStore(join(options.dataDir, 'members.json'));
  const gate = createAuthGate({
    username: options.username,
    password: options.password,
    cookieSecret: options.cookieSecret,
    version,
    next: createRequestPolicy(app),
    members: {
      store,
      access: createMemberAccess({
        store,
        validate: await loadValidateDocUpdate(),
        adminAuthorization: `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`,
      }),
    },
  });

  const listening = createServer(gate);
  listening.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS; // see limits.ts
  server = listening;
  listening.on('error', (error: NodeJS.ErrnoException) => {
    // Only listen errors reach here (EADDRINUSE on a restart); report and let the
    // supervisor decide.
    send({ type: 'error', code: error.code, message: error.message });
    process.exit(1);
  });
  listening.listen({ port: options.port, host: options.host }, () => {
    send({ type: 'ready', port: (listening.address() as AddressInfo).port });
  });
}

/** Errors that reach express (a body that breaks the parser, a fault in a route): the
 * client gets CouchDB's JSON error shape; the details go to stderr, which the supervisor
 * keeps to explain a crash. */
// Four parameters: express tells error handlers from others by their arity.
const jsonErrors: ErrorMiddleware = (error, _req, res, _next) => {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown; name?: unknown };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  process.stderr.write(`request failed (${status}): ${typeof e.message === 'string' ? e.message : String(error)}\n`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status >= 400 && status < 500 && e.expose === true && typeof e.message === 'string') {
    sendJson(res, status, { error: 'bad_request', reason: e.message });
  } else {
    sendJson(res, 500, { error: 'internal_error', reason: 'The server failed on this request. Try again; if it keeps failing, the server log says why.' });
  }
};

/**
 * Closing the sockets is all a clean stop needs: LevelDB hands every write to the OS
 * before the request is answered, so exiting loses nothing.
 */
function shutdown(): void {
  if (stopping) return;
  stopping = true;
  if (!server) process.exit(0);
  server.close(() => process.exit(0));
  server.closeAllConnections();
}

if (!process.send) {
  process.stderr.write('server-process is started by the embedded server supervisor, not directly.\n');
  process.exit(2);
}

process.on('message', (message: unknown) => {
  if (!isParentMessage(message)) return;
  if (message.type === 'stop') return shutdown();
  if (server) return;
  start(message.options).catch((error: unknown) => {
    send({ type: 'error', code: undefined, message: error instanceof Error ? error.message : String(error) });
    // Rethrown outside the promise so it ends the process with its stack on stderr.
    setImmediate(() => {
      throw error;
    });
  });
});

// The parent is gone (crashed, killed): an orphan would hold the port and the LevelDB lock.
process.on('disconnect', shutdown);
process.on('SIGTERM', shutdown);
// Ctrl-C and a closed terminal signal the whole process group; stopping is the parent's
// decision (it stops this child as part of its own shutdown), otherwise it would see a
// crash and restart the child in the middle of shutting down.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
