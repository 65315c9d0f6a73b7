import { listErrors, retryErrors } from '../../queue/maintenance.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { extOption, openQueue } from '../open-queue.js';
import { openDatabase } from '../open-database.js';

export const errorsCommand: Command = {
  name: 'errors',
  summary: 'list documents an extension failed on',
  help: `Usage: raindrop errors [--ext ID] [--json] [global options]

Lists the rd.core.error records: extension, kind (exception, timeout, memory,
output-size, capability, invalid-output, crash), message and source document.

Examples:
  raindrop errors
  raindrop errors --ext rd.ext.email --json`,
  options: { ext: { type: 'string' } },
  async run(ctx, values) {
    const { server, db } = await openDatabase(ctx);
    try {
      const errors = await listErrors(db, typeof values.ext === 'string' ? values.ext : undefined);
      ctx.output.data({ errors }, errors.length === 0 ? 'no errors' : errors.map((e) => `${e.extension}  ${e.kind}  ${e.source_id}\n  ${e.message}`).join('\n'));
      return exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};

export const retryErrorsCommand: Command = {
  name: 'retry-errors',
  summary: 'run the failed documents again',
  help: `Usage: raindrop retry-errors [--ext ID] [global options]

Runs each extension again on the documents it failed on; an error is replaced by the
outputs when the run succeeds.

Examples:
  raindrop retry-errors --ext rd.ext.email`,
  options: { ext: { type: 'string', multiple: true } },
  async run(ctx, values) {
    const only = extOption(values.ext);
    const queue = await openQueue(ctx, only);
    try {
      const stats = await retryErrors({ db: queue.db, registry: queue.registry, pool: queue.runner.pool, ordered: queue.runner.extensions, logger: ctx.logger }, only[0]);
      ctx.output.data(stats, `retried: ${stats.ran} runs, ${stats.failed} still failing`);
      return stats.failed > 0 ? exitCodes.failure : exitCodes.ok;
    } finally {
      await queue.close();
    }
  },
};
