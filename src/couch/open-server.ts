import { RaindropError, errorCodes, silentLogger, type Logger } from '../core/index.js';
import { type Couch, type CouchCredentials, connectCouch } from './connect.js';
import { readAdminCredentials } from './embedded/admin-credentials.js';
import { readLiveServerRecord } from './embedded/server-record.js';
import { type EmbeddedServer, startEmbeddedServer } from './embedded/index.js';
import { readShippedDesignDocs } from './push-design-docs.js';

export interface OpenServerOptions {
  /** A configured CouchDB URL; when set, nothing embedded is involved. */
  couchUrl: string | undefined;
  dataDir: string;
  /** Who starts the embedded server if none runs: `serve` keeps it, a command owns it
   * only for its own run. */
  owner: 'serve' | 'command';
  /** Port for a newly started embedded server (0: any free port). */
  port?: number;
  logger?: Logger;
}

export interface OpenServer {
  couch: Couch;
  /** Where the server came from. */
  source: 'configured' | 'running' | 'started';
  /** The login, for `raindrop url --credentials` (never logged). */
  credentials: CouchCredentials | undefined;
  embedded: EmbeddedServer | undefined;
  /** Settles with the reason if the embedded server this call started keeps crashing and
   * its supervisor gives up; never settles otherwise. Nothing serves the data after it. */
  failed: Promise<RaindropError>;
  /** Stops an embedded server this call started; a no-op otherwise. */
  release(): Promise<void>;
}

/**
 * The server a command talks to: the configured URL; else the embedded server that a
 * running `raindrop serve` (or another command) owns; else an embedded server started
 * for this run. Every command therefore works with no set-up at all.
 */
export async function openServer(options: OpenServerOptions): Promise<OpenServer> {
  const logger = options.logger ?? silentLogger;
  if (options.couchUrl !== undefined) {
    return { couch: connectCouch(options.couchUrl), source: 'configured', credentials: undefined, embedded: undefined, failed: never, release: async () => {} };
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    const running = await useRunning(options.dataDir);
    if (running) return running;
    try {
      let gaveUp: (error: RaindropError) => void = () => undefined;
      const failed = new Promise<RaindropError>((resolve) => (gaveUp = resolve));
      const embedded = await startEmbeddedServer({
        dataDir: options.dataDir,
        port: options.port ?? 0,
        owner: options.owner,
        logger,
        trustedDesignDocs: await readShippedDesignDocs(),
        onFatal: (error) => gaveUp(error),
      });
      return {
        couch: connectCouch(embedded.url, embedded.credentials),
        source: 'started',
        credentials: embedded.credentials,
        embedded,
        failed,
        release: () => embedded.stop(),
      };
    } catch (err) {
      // Another process took the data dir between our look and our start: use its server.
      if (!(err instanceof RaindropError && err.code === errorCodes.EMBEDDED_LOCKED) || attempt > 0) throw err;
    }
  }
  throw new RaindropError(errorCodes.EMBEDDED_START, `could not start or find the embedded server in ${options.dataDir}`);
}

/** For servers this process does not supervise. */
const never = new Promise<RaindropError>(() => undefined);

/** The embedded server another process runs for this data dir, if any. */
export async function useRunning(dataDir: string): Promise<OpenServer | undefined> {
  const record = await readLiveServerRecord(dataDir);
  if (!record) return undefined;
  const credentials = await readAdminCredentials(dataDir);
  if (!credentials) {
    throw new RaindropError(
      errorCodes.COUCH_AUTH,
      `an embedded server runs at ${record.url} (pid ${record.pid}) but its login file is missing from ${dataDir}; stop that process and start again`,
    );
  }
  const login = { username: credentials.username, password: credentials.password };
  return { couch: connectCouch(record.url, login), source: 'running', credentials: login, embedded: undefined, failed: never, release: async () => {} };
}
