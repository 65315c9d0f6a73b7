/**
 * Starts the embedded server in a child process and keeps it running. The child can die
 * from one bad request (see server-process.ts); the supervisor restarts it on the same
 * port, so clients only see a dropped connection and reconnect. Ownership of the data
 * directory is taken before anything else (server-record.ts) and given back on stop.
 */

import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { RaindropError, errorCodes } from '../../core/errors.js';
import { compiledEntry } from '../../core/entry-points.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { loadOrCreateAdminCredentials } from './admin-credentials.js';
import type { TrustedDesignDoc } from './code-policy.js';
import {
  EMBEDDED_HOST,
  READY_TIMEOUT_MS,
  RESTART_BACKOFF_INITIAL_MS,
  RESTART_BACKOFF_MAX_MS,
  RESTART_BUDGET,
  RESTART_WINDOW_MS,
  STDERR_TAIL_BYTES,
  STOP_TIMEOUT_MS,
} from './limits.js';
import { isChildMessage, type ChildStartOptions, type ParentMessage } from './protocol.js';
import {
  acquireServerRecord,
  releaseServerRecord,
  serverRecordPath,
  updateServerRecord,
  type ServerOwner,
  type ServerRecordHandle,
} from './server-record.js';

const CHILD_ENTRY = 'src/couch/embedded/server-process.ts';

export interface StartEmbeddedServerOptions {
  dataDir: string;
  /** 0 or absent: any free port. */
  port?: number;
  owner: ServerOwner;
  logger?: Logger;
  /** Raindrop's own design documents (couch/push-design-docs.ts readShippedDesignDocs):
   * the only code from the database the server runs. None: no view runs at all. */
  trustedDesignDocs?: readonly TrustedDesignDoc[];
  /** Called once if the child keeps crashing and the supervisor gives up. */
  onFatal?: (error: RaindropError) => void;
}

export interface EmbeddedServer {
  /** e.g. http://127.0.0.1:5984, never with credentials. */
  readonly url: string;
  readonly port: number;
  readonly credentials: { readonly username: string; readonly password: string };
  /** The current child's pid; undefined between a crash and its restart. */
  readonly childPid: number | undefined;
  /** How many times the child was restarted after dying. */
  readonly restarts: number;
  /** Stops the child and releases the data directory. Safe to call more than once. */
  stop(): Promise<void>;
  /** Simulates a crash: kills the current child without telling the supervisor. */
  killChildForTest(signal?: NodeJS.Signals): void;
}

export async function startEmbeddedServer(options: StartEmbeddedServerOptions): Promise<EmbeddedServer> {
  const dataDir = resolve(options.dataDir);
  const logger = (options.logger ?? silentLogger).child('embedded');
  const entry = compiledEntry(CHILD_ENTRY);

  const acquired = await acquireServerRecord(dataDir, options.owner);
  if (!acquired.acquired) {
    const { record } = acquired;
    throw new RaindropError(
      errorCodes.EMBEDDED_LOCKED,
      `The data directory ${dataDir} is in use by process ${record.pid} (raindrop ${record.owner}` +
        `${record.url ? ` at ${record.url}` : ', still starting'}). Use that server, or stop that process ` +
        `first. If no such process is running, delete ${serverRecordPath(dataDir)}.`,
      { details: { pid: record.pid, owner: record.owner, ...(record.url ? { url: record.url } : {}) } },
    );
  }
  const handle = acquired.handle;

  try {
    const credentials = await loadOrCreateAdminCredentials(dataDir);
    const supervisor = new Supervisor(entry, handle, logger, options.onFatal, {
      dataDir,
      port: options.port ?? 0,
      host: EMBEDDED_HOST,
      username: credentials.username,
      password: credentials.password,
      cookieSecret: credentials.cookieSecret,
      trustedDesignDocs: [...(options.trustedDesignDocs ?? [])],
    });
    const port = await supervisor.start();
    const url = `http://${EMBEDDED_HOST}:${port}`;
    await updateServerRecord(handle, { url, port }).catch(async (error: unknown) => {
      await supervisor.stop();
      throw error;
    });
    logger.debug('embedded server started', { url, dataDir, pid: supervisor.childPid });
    return {
      url,
      port,
      credentials: { username: credentials.username, password: credentials.password },
      get childPid() {
        return supervisor.childPid;
      },
      get restarts() {
        return supervisor.restarts;
      },
      stop: () => supervisor.stop(),
      killChildForTest: (signal = 'SIGKILL') => supervisor.killChild(signal),
    };
  } catch (error) {
    await releaseServerRecord(handle).catch(() => undefined);
    throw error;
  }
}

class Supervisor {
  restarts = 0;
  private child: ChildProcess | undefined;
  private stderrTail = '';
  private crashTimes: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private gaveUp = false;
  /** Set once the first child answered; only then is an exit a crash to recover from. */
  private started = false;

  constructor(
    private readonly entry: string,
    private readonly record: ServerRecordHandle,
    private readonly logger: Logger,
    private readonly onFatal: ((error: RaindropError) => void) | undefined,
    private options: ChildStartOptions,
  ) {}

  get childPid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the first child; resolves with its port. */
  async start(): Promise<number> {
    try {
      const port = await this.launch();
      // Restarts must come back where clients expect the server.
      this.options = { ...this.options, port };
      this.started = true;
      return port;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * Forks a child and waits until it listens. A child that dies or hangs on the way is
   * reported by the rejection; after the first start, its exit also counts as a crash.
   */
  private launch(): Promise<number> {
    return new Promise<number>((resolveReady, rejectReady) => {
      this.stderrTail = '';
      const child = fork(this.entry, [], {
        // Child processes need this flag on Node 20 (isolated-vm); same flags everywhere.
        execArgv: ['--no-node-snapshot'],
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'json',
      });
      this.child = child;
      let settled = false;
      const settle = (error: RaindropError | undefined, port?: number): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) rejectReady(error);
        else resolveReady(port ?? 0);
      };
      const timer = setTimeout(() => {
        settle(this.startError(`did not start within ${READY_TIMEOUT_MS} ms`));
        child.kill('SIGKILL');
      }, READY_TIMEOUT_MS);

      child.stdout?.on('data', (chunk: Buffer) => this.logger.debug(chunk.toString('utf8').trimEnd()));
      child.stderr?.on('data', (chunk: Buffer) => {
        this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
      });
      child.on('message', (message: unknown) => {
        if (!isChildMessage(message)) return;
        if (message.type === 'ready') settle(undefined, message.port);
        else settle(this.startError(`failed: ${message.code ?? ''} ${message.message}`.replace(/ {2}/, ' ')));
      });
      child.on('error', (error) => {
        // Spawning failed (no exit will follow) or the IPC channel broke (an exit will).
        settle(this.startError(`could not be started: ${error.message}`));
        if (child.pid === undefined) this.onExit(child, null, null, settled);
      });
      // 'close' rather than 'exit': it comes after stderr is drained, so the tail is complete.
      child.on('close', (code, signal) => {
        const wasReady = settled;
        settle(this.startError(`exited during start-up (${signal ?? `code ${code}`})`));
        this.onExit(child, code, signal, wasReady);
      });
      child.send({ type: 'start', options: this.options } satisfies ParentMessage);
    });
  }

  private startError(what: string): RaindropError {
    const tail = this.stderrTail.trim();
    return new RaindropError(
      errorCodes.EMBEDDED_START,
      `The embedded server ${what}.${tail ? `\nIts last output:\n${tail}` : ''}`,
      { details: { port: this.options.port, dataDir: this.options.dataDir } },
    );
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, wasReady: boolean): void {
    if (child !== this.child) return;
    this.child = undefined;
    // The first start reports its own failure; a stop expects the exit.
    if (this.stopping || !this.started) return;
    this.logger.warn('embedded server stopped unexpectedly', {
      code,
      signal,
      whileStarting: !wasReady,
      output: this.stderrTail.trim().slice(-1_000),
    });
    const now = Date.now();
    this.crashTimes = [...this.crashTimes.filter((t) => now - t < RESTART_WINDOW_MS), now];
    if (this.crashTimes.length > RESTART_BUDGET) return this.giveUp();
    const backoff = Math.min(
      RESTART_BACKOFF_MAX_MS,
      RESTART_BACKOFF_INITIAL_MS * 2 ** (this.crashTimes.length - 1),
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts += 1;
      this.launch().then(
        () => this.logger.info('embedded server restarted', { port: this.options.port, pid: this.childPid }),
        // Its exit, which is already on its way, counts it as a crash.
        (error: unknown) => this.logger.debug('restart failed', { error: String(error) }),
      );
    }, backoff);
  }

  private giveUp(): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    const error = new RaindropError(
      errorCodes.EMBEDDED_START,
      `The embedded server crashed more than ${RESTART_BUDGET} times within ${RESTART_WINDOW_MS / 1000} s; ` +
        `giving up. Its last output:\n${this.stderrTail.trim() || '(none)'}`,
      { details: { dataDir: this.options.dataDir, port: this.options.port } },
    );
    this.logger.error(error.message);
    // Nothing serves this data directory any more: let another process take it over.
    void this.stop()
      .catch((stopError: unknown) => this.logger.error('stopping after giving up failed', { error: String(stopError) }))
      .then(() => this.onFatal?.(error));
  }

  killChild(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      try {
        if (child.connected) child.send({ type: 'stop' } satisfies ParentMessage);
        else child.kill('SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    await releaseServerRecord(this.record);
  }
}
