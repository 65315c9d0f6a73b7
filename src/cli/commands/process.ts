import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { extOption, openQueue } from '../open-queue.js';
import { refuseWhileWorkersRun } from '../workers-guard.js';
import { type QueueProgress, startQueueProgress } from '../progress.js';
import { refreshUserExtensions, userExtensionDirs } from '../refresh-extensions.js';
import { watchExtensionDirs } from '../watch-extension-dirs.js';

export const processCommand: Command = {
  name: 'process',
  help: `Usage: raindrop process [--watch] [--ext ID]... [--verbose] [global options]

Runs the installed extensions over the changes feed: up-to-date extensions on new
changes first, then new or edited extensions replaying everything from the start.
Returns when every extension is at the head of the feed and nothing is pending; with
--watch it keeps following the feed until Ctrl-C. An extension file (or schema file)
edited in an installed directory is re-installed first, and with --watch as soon as it
is saved: the queue derives again what the new code makes differently.

Prints one progress line while it works (a bar on a terminal) and a summary.

Options:
  --watch    keep going
  --ext ID   only this extension (repeatable)
  --verbose  a line per batch instead of the progress line

Examples:
  raindrop process
  raindrop process --watch
  raindrop process --ext rd.ext.email --json`,
  options: { watch: { type: 'boolean' }, ext: { type: 'string', multiple: true }, verbose: { type: 'boolean' } },
  async run(ctx, values) {
    const only = extOption(values.ext);
    const verbose = values.verbose === true;
    let progress: QueueProgress | undefined;
    for (;;) {
      const queue = await openQueue(ctx, only, 'command', ({ lane, stats, changes }) => {
        if (verbose) ctx.logger.info(`${lane} batch: ${changes} changes, ${stats.ran} ran, ${stats.skipped} up to date, ${stats.failed} failed, ${stats.written} written`);
        progress?.batch(changes, stats);
      });
      try {
        await refuseWhileWorkersRun(queue.db, 'Stop them first ("raindrop worker --drain ID"), or run "raindrop worker" here to join them.');
        const refreshed = await refreshUserExtensions(ctx, queue.db);
        if (refreshed && (refreshed.installed.some((e) => e.written) || refreshed.schemas.installed.some((s) => s.written))) continue; // start again with the new code
        if (values.watch !== true) {
          const started = performance.now();
          if (!verbose) progress = startQueueProgress(await queue.runner.pendingChanges());
          let report;
          let interrupted = false;
          void ctx.stopRequested.then(() => (interrupted = true));
          try {
            report = await queue.runner.runUntilIdle(ctx.stopRequested);
          } finally {
            progress?.stop();
            progress = undefined;
          }
          const seconds = (performance.now() - started) / 1000;
          ctx.output.data(
            { ...report, seconds, interrupted, extensions: queue.runner.extensions.map((e) => e.declaration.id) },
            `processed: ${report.ran} runs in ${report.batches} batches, ${report.skipped} up to date, ${report.failed} failed, ${report.written} documents written (${seconds.toFixed(1)} s)${report.failed > 0 ? '; "raindrop errors" says why' : ''}${interrupted ? '; interrupted: "raindrop process" goes on from here' : ''}`,
          );
          if (interrupted) return exitCodes.interrupted;
          return report.failed > 0 ? exitCodes.failure : exitCodes.ok;
        }
        // Saving a file re-installs it; the new rd.ext.workqueue document ends the watch
        // below, and the loop starts the queue again with the new code.
        const dirs = watchExtensionDirs(await userExtensionDirs(ctx, queue.db), async () => void (await refreshUserExtensions(ctx, queue.db)), ctx.logger);
        try {
          const outcome = await queue.runner.watch(ctx.stopRequested);
          if (outcome === 'stopped') return exitCodes.ok;
        } finally {
          dirs.close();
        }
        ctx.logger.info('installed extensions changed; restarting the queue');
      } finally {
        await queue.close();
      }
    }
  },
};
