import { join } from 'node:path';
import { RaindropError, errorCodes } from '../../core/index.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { cliLimits } from '../limits.js';
import { installDatabase } from '../install.js';
import type { CommandContext } from '../command.js';
import type { OpenServer } from '../../couch/open-server.js';
import { useDatabase } from '../../couch/connect.js';
import { QueueRunner } from '../../queue/queue-runner.js';
import { SchemaRegistry } from '../../schema/registry.js';
import { importPaths } from '../../protocols/import/import-messages.js';
import { watchAccount } from '../../protocols/imap/watch.js';
import { refreshUserExtensions, userExtensionDirs } from '../refresh-extensions.js';
import { watchExtensionDirs } from '../watch-extension-dirs.js';
import { runWorker } from '../run-worker.js';
import { refuseWhileWorkersRun } from '../workers-guard.js';
import { Sender } from '../../protocols/smtp/sender.js';
import { projectRoot } from '../../core/entry-points.js';
import { readAppFiles } from '../../couch/push-app.js';
import { defaultAppPort } from '../../config/index.js';
import { startAppServer } from '../../web/app-server.js';
import { SearchIndex } from '../../search/index-store.js';
import { searchIndexPath } from '../../search/index-path.js';
import { indexUntilStopped } from '../../search/indexer.js';
import { runSearch } from '../../search/run-query.js';
import { type ViewWarmer, startViewWarmer } from '../../web/view-warmer.js';

/** The search indexer, following the feed until serve stops; restarted after a failure
 * (logged) with a pause. It resumes from the index's own checkpoint. */
async function runIndexerUntilStopped(ctx: CommandContext, server: OpenServer, index: SearchIndex): Promise<void> {
  const db = useDatabase(server.couch, ctx.config.db);
  let stopped = false;
  void ctx.stopRequested.then(() => (stopped = true));
  const work = (async () => {
    while (!stopped) {
      try {
        await indexUntilStopped({ db, index, logger: ctx.logger }, ctx.stopRequested);
      } catch (err) {
        if (stopped) return;
        ctx.logger.error('the search indexer stopped; restarting it in 5 s', { error: (err as Error).message });
        await Promise.race([ctx.stopRequested, new Promise((r) => setTimeout(r, 5000))]);
      }
    }
  })();
  // The index is derived state that a kill -9 leaves consistent (each batch is one SQLite
  // transaction with its checkpoint), so a stop gives it a moment to finish the batch in
  // hand and then does not wait for it: in CI, under load, it held serve's stop past the
  // 20 s grace. Whatever it had not committed is read again on the next start.
  await Promise.race([work, ctx.stopRequested.then(() => new Promise((r) => setTimeout(r, cliLimits.indexerStopWaitMs).unref()))]);
}

/** A batch of the queue (or of serve's worker): it is busy until it says it is at the head
 * of the feed, and what it wrote is for the warmer's next round. */
function followBatch(warmer: ViewWarmer, stats: { written: number }): void {
  warmer.busy(true);
  if (stats.written > 0) warmer.poke();
}

/** "serve --worker": one worker of several (run-worker.ts) in place of serve's own queue,
 * mail sync and sender; the web app's view warmer follows its batches. */
async function runAsWorker(ctx: CommandContext, server: OpenServer): Promise<void> {
  const db = useDatabase(server.couch, ctx.config.db);
  const warmer = startViewWarmer(db, ctx.logger);
  warmer.poke();
  try {
    const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
    try {
      registry.follow();
      const startRunner = () => QueueRunner.start({ db, registry, logger: ctx.logger });
      await runWorker(ctx, { db, registry, startRunner, roles: ['process', 'fetch', 'send'], timing: {}, verbose: false, onBatch: (stats) => followBatch(warmer, stats), onIdle: () => warmer.busy(false) }, (member) => {
        ctx.logger.info(`serving as worker ${member.id} ("raindrop status" shows its partitions)`);
      });
    } finally {
      await registry.close();
    }
  } finally {
    await warmer.close();
  }
}

/** The queue, following the feed for as long as serve runs; restarted when the
 * installed extensions change, and after a failure (logged) with a pause. */
async function runQueueUntilStopped(ctx: CommandContext, server: OpenServer): Promise<void> {
  const db = useDatabase(server.couch, ctx.config.db);
  // The web app's indexes follow the queue's writes, so no page load waits for a build.
  const warmer = startViewWarmer(db, ctx.logger);
  warmer.poke();
  try {
    await runQueueLoop(ctx, db, warmer);
  } finally {
    await warmer.close();
  }
}

async function runQueueLoop(ctx: CommandContext, db: ReturnType<typeof useDatabase>, warmer: ViewWarmer): Promise<void> {
  let stopped = false;
  void ctx.stopRequested.then(() => (stopped = true));
  let watchedDirs = '';
  while (!stopped) {
    let dirWatch: ReturnType<typeof watchExtensionDirs> | undefined;
    try {
      // Loading the schemas is part of what is retried: the server can be briefly away
      // (an embedded server being restarted by its supervisor).
      const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
      try {
        registry.follow();
        // An edit saved in one of the user's extension directories is installed at once;
        // the queue sees the new rd.ext.workqueue document, ends its watch, and this loop
        // starts it again with the new code (and the directories as they are now: one
        // installed meanwhile by "raindrop init --extensions" is watched from then on).
        const userDirs = await userExtensionDirs(ctx, db);
        if (userDirs.length > 0 && userDirs.join('\n') !== watchedDirs) ctx.logger.info(`watching your extensions in ${userDirs.join(', ')}`);
        watchedDirs = userDirs.join('\n');
        dirWatch = watchExtensionDirs(userDirs, async () => void (await refreshUserExtensions(ctx, db)), ctx.logger);
        // A file saved while no watcher was open (between the last watch's close and
        // this one, as the queue restarted) is installed now: no edit is missed.
        await refreshUserExtensions(ctx, db);
        const runner = await QueueRunner.start({
          db, registry, logger: ctx.logger,
          onBatch: (b) => followBatch(warmer, b.stats),
          onIdle: () => warmer.busy(false),
        });
        try {
          await runner.watch(ctx.stopRequested);
        } finally {
          await runner.close();
        }
      } finally {
        await registry.close();
      }
    } catch (err) {
      ctx.logger.error('the queue stopped; restarting it in 5 s', { error: (err as Error).message });
      await Promise.race([ctx.stopRequested, new Promise((r) => setTimeout(r, 5000))]);
    } finally {
      dirWatch?.close();
    }
  }
}

/** Every configured account kept in step until serve stops: a full sync, then IDLE on
 * INBOX and the other folders every poll interval (watchAccount: reconnects with backoff,
 * forever; each account's rd.core.sync-status shows how it goes). Accounts that fail do
 * not stop the others or the queue. */
async function runSyncUntilStopped(ctx: CommandContext, server: OpenServer): Promise<void> {
  const accounts = Object.values(ctx.config.accounts);
  if (accounts.length === 0) return;
  const db = useDatabase(server.couch, ctx.config.db);
  const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
  registry.follow();
  try {
    await Promise.all(accounts.map(async (account) => {
      try {
        await watchAccount({
          registry, db, account, logger: ctx.logger, stop: ctx.stopRequested,
          onPass: (s) => ctx.logger.info(`sync ${s.account}: ${s.result}, ${s.stored} new, ${s.flagUpdates} flag changes, ${s.expunged} expunged`, s.error ? { error: s.error.message } : {}),
        });
      } catch (err) {
        ctx.logger.error(`sync of ${account.name} stopped`, { error: (err as Error).message });
      }
    }));
  } finally {
    await registry.close();
  }
}

/** The SMTP sender until serve stops, when an account can send: the outbox at start,
 * then every outgoing document that changes, retries when due (Sender.watch). A failure
 * is logged and the sender restarted after a pause; nothing is sent twice by a restart. */
async function runSenderUntilStopped(ctx: CommandContext, server: OpenServer): Promise<void> {
  if (!Object.values(ctx.config.accounts).some((a) => a.smtp !== undefined)) return;
  const db = useDatabase(server.couch, ctx.config.db);
  let stopped = false;
  void ctx.stopRequested.then(() => (stopped = true));
  while (!stopped) {
    const registry = await SchemaRegistry.load(db, { logger: ctx.logger });
    registry.follow();
    const sender = new Sender({ registry, db, accounts: ctx.config.accounts, logger: ctx.logger });
    try {
      await sender.watch(ctx.stopRequested);
    } catch (err) {
      ctx.logger.error('the mail sender stopped; restarting it in 5 s', { error: (err as Error).message });
      await Promise.race([ctx.stopRequested, new Promise((r) => setTimeout(r, 5000))]);
    } finally {
      await sender.close();
      await registry.close();
    }
  }
}

/** Waits for every part to finish; once a stop is requested, for at most the shutdown
 * grace time. Returns the names of the parts still running at the deadline (none when all
 * finished), so a stuck part is named instead of leaving the process hanging. */
async function runUntilStopped(ctx: CommandContext, parts: Record<string, Promise<unknown>>): Promise<string[]> {
  const pending = new Set(Object.keys(parts));
  const all = Promise.all(Object.entries(parts).map(([name, p]) => p.finally(() => pending.delete(name))));
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  const deadline = ctx.stopRequested.then(() => new Promise<void>((resolve) => {
    if (!finished) timer = setTimeout(resolve, cliLimits.shutdownGraceMs);
  }));
  try {
    await Promise.race([all, deadline]);
  } finally {
    finished = true;
    clearTimeout(timer);
  }
  return [...pending];
}

export const serveCommand: Command = {
  name: 'serve',
  help: `Usage: raindrop serve [--port N] [global options]

Starts the embedded CouchDB-compatible server on 127.0.0.1 (default port 5994; env
RAINDROP_PORT), installs the database, prints the URL and how to log in, runs the work
queue on every change, keeps every configured mail account in step (a full sync at start
and every 5 minutes, new INBOX mail at once through IDLE), sends the mail you write
(accounts with SMTP settings; see "raindrop outbox"), keeps the search index up to date
(see "raindrop search"), and keeps running until Ctrl-C
(SIGINT) or SIGTERM. With --couch it uses that server instead. Your extension
directories (installed with "raindrop init --extensions DIR", or given with
--extensions) stay installed, and a file saved there is re-installed and re-derived
at once.
Other raindrop commands find a running serve through the data directory.

The web app is served at http://127.0.0.1:5995/ (--app-port) with the CouchDB API on the
same origin; log in there with a CouchDB login (the admin, or a member made with
"raindrop user add").

Options:
  --port N        port for the embedded server (0: any free port)
  --app-port N    port for the web app (default ${defaultAppPort}; 0: any free port)
  --import PATH   import mail from PATH before the queue starts (repeatable; mail
                  already stored is skipped, so this is safe on every start)
  --worker        work as one of several workers on a shared (clustered) CouchDB, as
                  "raindrop worker" does, in place of serve's own queue, mail sync and
                  sender (see "Running on several machines" in the README). Without it,
                  serve refuses to start while workers are processing the database.

Examples:
  raindrop serve
  raindrop serve --worker --couch http://admin:pw@db1:5984
  raindrop serve --data-dir ./mail-data --port 6001`,
  options: { port: { type: 'string' }, 'app-port': { type: 'string' }, import: { type: 'string', multiple: true }, worker: { type: 'boolean' } },
  async run(ctx, values) {
    const server = await ctx.openServer('serve');
    try {
      if (server.source === 'running') {
        throw new RaindropError(
          errorCodes.EMBEDDED_LOCKED,
          `another Raindrop process already runs the embedded server for ${ctx.config.dataDir} at ${server.couch.url}; stop it first or use another --data-dir`,
        );
      }
      const report = await installDatabase(server.couch, ctx.config.db, ctx.config.extensions, ctx.logger);
      const asWorker = values.worker === true;
      if (!asWorker) await refuseWhileWorkersRun(useDatabase(server.couch, ctx.config.db), 'Run "raindrop serve --worker" to join them, or stop them first.');
      const appPort = values['app-port'] === undefined ? defaultAppPort : Number(values['app-port']);
      if (!Number.isInteger(appPort) || appPort < 0 || appPort > 65535) {
        throw new RaindropError(errorCodes.USAGE, `--app-port must be a port number (0 to 65535), got "${String(values['app-port'])}"`);
      }
      const index = SearchIndex.open(searchIndexPath(ctx.config.dataDir, ctx.config.db));
      let app: Awaited<ReturnType<typeof startAppServer>>;
      try {
        app = await startAppServer({ couchUrl: server.couch.url, db: report.db, files: await readAppFiles(join(projectRoot, 'dist', 'couchapp', 'app')), port: appPort, logger: ctx.logger, search: (query, options) => runSearch(index, query, options) });
      } catch (err) {
        index.close();
        throw err;
      }
      try {
        const login = server.credentials
          ? `log in as "${server.credentials.username}"; the password is in ${join(ctx.config.dataDir, 'admin.json')} (or run "raindrop url --credentials"); "raindrop user add NAME" makes a login that can only read mail and triage it`
          : 'log in with a login of the configured CouchDB ("raindrop user add NAME" makes one that can only read mail and triage it)';
        ctx.output.data(
          { url: server.couch.url, app_url: app.url, db: report.db, embedded: server.embedded !== undefined, username: server.credentials?.username ?? null, pid: process.pid },
          `Raindrop is serving the web app at ${app.url}\n${login}\nCouchDB API: ${server.couch.url}/${report.db} (also at ${app.url}${report.db})\nPress Ctrl-C to stop.`,
        );
        const importPathsGiven = Array.isArray(values.import) ? values.import.map(String) : [];
        if (importPathsGiven.length > 0) {
          const registry = await SchemaRegistry.load(useDatabase(server.couch, ctx.config.db), { logger: ctx.logger });
          try {
            const summary = await importPaths(registry, useDatabase(server.couch, ctx.config.db), importPathsGiven);
            ctx.logger.info(`imported ${summary.imported} messages (${summary.duplicate} already there, ${summary.refused.length} refused${summary.skipped > 0 ? `, ${summary.skipped} files not mail by their names passed over` : ''})`);
            for (const r of summary.refused.slice(0, 3)) ctx.logger.info(`  refused ${r.origin}: ${r.reason}`);
            if (summary.refused.length > 3) ctx.logger.info(`  ... and ${summary.refused.length - 3} more ("raindrop import --json PATH" lists them all)`);
          } finally {
            await registry.close();
          }
        }
        if (Object.keys(ctx.config.accounts).length > 0) ctx.logger.info(`syncing ${Object.keys(ctx.config.accounts).length} mail account(s)`);
        // An embedded server whose supervisor gave up serves nothing any more: serve stops
        // too, with the reason, rather than run on as a half-alive service (the queue and
        // the sync retrying against a closed port forever).
        let gaveUp: RaindropError | undefined;
        const serverFailed = server.failed.then((error) => {
          gaveUp = error;
          ctx.logger.error('the embedded server keeps crashing; raindrop serve stops', { error: error.message });
        });
        // A drain request to serve's worker ("raindrop worker --drain ID") stops serve too.
        let workerLeft!: () => void;
        const drained = new Promise<void>((r) => (workerLeft = r));
        const partsCtx: CommandContext = { ...ctx, stopRequested: Promise.race([ctx.stopRequested, serverFailed, drained]) };
        const stillRunning = await runUntilStopped(partsCtx, asWorker
          ? {
              worker: runAsWorker(partsCtx, server).catch((err: unknown) => ctx.logger.error('the worker stopped', { error: (err as Error).message })).finally(workerLeft),
              'search indexer': runIndexerUntilStopped(partsCtx, server, index),
            }
          : {
              queue: runQueueUntilStopped(partsCtx, server),
              'search indexer': runIndexerUntilStopped(partsCtx, server, index),
              'mail sync': runSyncUntilStopped(partsCtx, server).catch((err: unknown) => ctx.logger.error('mail sync stopped', { error: (err as Error).message })),
              'mail sender': runSenderUntilStopped(partsCtx, server).catch((err: unknown) => ctx.logger.error('mail sender stopped', { error: (err as Error).message })),
            });
        if (gaveUp) {
          throw new RaindropError(errorCodes.EMBEDDED_START, `${gaveUp.message}\nraindrop serve stopped: nothing serves ${ctx.config.dataDir} any more. Fix the cause above (a full disk, a damaged database) and start it again.`, { cause: gaveUp });
        }
        if (stillRunning.length > 0) {
          ctx.logger.error(`stopping took longer than ${cliLimits.shutdownGraceMs / 1000} s; still waiting for: ${stillRunning.join(', ')}. Nothing is lost (unfinished work is redone on the next start); exiting anyway`);
          return exitCodes.failure;
        }
        ctx.logger.info('stopped');
        return exitCodes.ok;
      } finally {
        await app.close();
        index.close();
      }
    } finally {
      await server.release();
    }
  },
};
