import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { extOption, openQueue } from '../open-queue.js';

export const processCommand: Command = {
  name: 'process',
  summary: 'run the extensions until every one is at the head of the feed',
  help: `Usage: raindrop process [--watch] [--ext ID]... [global options]

Runs the installed extensions over the changes feed: up-to-date extensions on new
changes first, then new or edited extensions replaying everything from the start.
Returns when every extension is at the head of the feed and nothing is pending; with
--watch it keeps following the feed until Ctrl-C (and picks up re-installed extensions).

Options:
  --watch    keep going
  --ext ID   only this extension (repeatable)

Examples:
  raindrop process
  raindrop process --ext rd.ext.email --json`,
  options: { watch: { type: 'boolean' }, ext: { type: 'string', multiple: true } },
  async run(ctx, values) {
    const only = extOption(values.ext);
    for (;;) {
      const queue = await openQueue(ctx, only);
      try {
        if (values.watch !== true) {
          const started = performance.now();
          const report = await queue.runner.runUntilIdle();
          const seconds = (performance.now() - started) / 1000;
          ctx.output.data(
            { ...report, seconds, extensions: queue.runner.extensions.map((e) => e.declaration.id) },
            `processed: ${report.ran} runs in ${report.batches} batches, ${report.skipped} up to date, ${report.failed} failed, ${report.written} documents written (${seconds.toFixed(1)} s)`,
          );
          return report.failed > 0 ? exitCodes.failure : exitCodes.ok;
        }
        const outcome = await queue.runner.watch(ctx.stopRequested);
        if (outcome === 'stopped') return exitCodes.ok;
        ctx.logger.info('installed extensions changed; restarting the queue');
      } finally {
        await queue.close();
      }
    }
  },
};
