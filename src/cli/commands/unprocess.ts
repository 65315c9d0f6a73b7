import { unprocess } from '../../queue/maintenance.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { extOption, openQueue } from '../open-queue.js';

export const unprocessCommand: Command = {
  name: 'unprocess',
  help: `Usage: raindrop unprocess [--ext ID]... [global options]

Removes every document the extensions derived (their contributions, errors and
provenance) and their checkpoints. Raw items written by fetchers stay; "raindrop
process" derives everything again.

Examples:
  raindrop unprocess --ext rd.ext.conversations && raindrop process`,
  options: { ext: { type: 'string', multiple: true } },
  async run(ctx, values) {
    const queue = await openQueue(ctx, extOption(values.ext));
    try {
      const only = extOption(values.ext);
      const ids = queue.runner.extensions.map((e) => e.declaration.id).filter((id) => only.length === 0 || only.includes(id));
      const result = await unprocess({ db: queue.db }, ids);
      ctx.output.data({ extensions: ids, ...result }, `unprocessed ${ids.length} extensions: ${result.removed} documents changed or removed`);
      return exitCodes.ok;
    } finally {
      await queue.close();
    }
  },
};
