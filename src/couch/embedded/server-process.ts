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
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join, sep } from 'node:path';
import { createAuthGate, type RequestHandler } from './auth-gate.js';
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

interface PouchDBStatic {
  plugin(plugin: unknown): PouchDBStatic;
  defaults(options: { prefix: string }): PouchDBStatic;
}

type ExpressPouchDB = (
  pouchDB: PouchDBStatic,
  options: { mode: string; inMemoryConfig: boolean; overrideMode: { include: string[] } },
) => RequestHandler;

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

  const PouchDB = (require('pouchdb-core') as PouchDBStatic)
    .plugin(require('pouchdb-adapter-leveldb'))
    .plugin(require('pouchdb-mapreduce'))
    .plugin(require('pouchdb-replication'))
    // The prefix is a path prefix, not a directory: it needs its trailing separator.
    .defaults({ prefix: couchDir + sep });

  const expressPouchDB = require('express-pouchdb') as ExpressPouchDB;
  const app = expressPouchDB(PouchDB, {
    mode: 'minimumForPouchDB',
    inMemoryConfig: true,
    overrideMode: { include: EXTRA_PARTS },
  });
  const { version } = require('express-pouchdb/package.json') as { version: string };

  const store = new MemberStore(join(options.dataDir, 'members.json'));
  const gate = createAuthGate({
    username: options.username,
    password: options.password,
    cookieSecret: options.cookieSecret,
    version,
    next: app,
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
