import { RaindropError, canonicalJson, errorCodes } from '../../core/index.js';
import { reprocess } from '../../queue/maintenance.js';
import type { QueueContext } from '../../queue/process-batch.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { extOption, openQueue } from '../open-queue.js';

export const reprocessCommand: Command = {
  name: 'reprocess',
  help: `Usage: raindrop reprocess [--ext ID]... [--key JSON] [global options]

Runs the extensions again on every source document (or only the item --key names),
whatever their provenance says.

Examples:
  raindrop reprocess --ext rd.ext.email
  raindrop reprocess --key '["email","abc@example.org"]'`,
  options: { ext: { type: 'string', multiple: true }, key: { type: 'string' } },
  async run(ctx, values) {
    let key: string | undefined;
    if (typeof values.key === 'string') {
      try {
        key = canonicalJson(JSON.parse(values.key));
      } catch (cause) {
        throw new RaindropError(errorCodes.USAGE, `--key must be a JSON key such as '["email","abc@example.org"]'`, { cause });
      }
    }
    const queue = await openQueue(ctx, extOption(values.ext));
    try {
      const only = extOption(values.ext);
      const extensions = queue.runner.extensions.filter((e) => only.length === 0 || only.includes(e.declaration.id));
      const ctxQueue: QueueContext = { db: queue.db, registry: queue.registry, pool: queue.runner.pool, ordered: queue.runner.extensions, logger: ctx.logger };
      const stats = await reprocess(ctxQueue, extensions, key === undefined ? undefined : (doc) => canonicalJson(doc.rd_key) === key);
      ctx.output.data(stats, `reprocessed: ${stats.ran} runs, ${stats.failed} failed, ${stats.written} documents written`);
      return stats.failed > 0 ? exitCodes.failure : exitCodes.ok;
    } finally {
      await queue.close();
    }
  },
};
