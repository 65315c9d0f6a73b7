import { type ErrorRecord, listErrors, retryErrors } from '../../queue/maintenance.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { extOption, openQueue } from '../open-queue.js';
import { openDatabase } from '../open-database.js';

export const errorsCommand: Command = {
  name: 'errors',
  help: `Usage: raindrop errors [--ext ID] [--all] [--json] [global options]

Counts the rd.core.error records, grouped by extension and kind (exception, timeout,
memory, output-size, capability, invalid-output, crash), with one example message per
group. --all lists every record: extension, kind, source document and message. With
--json: {total, groups, errors} (errors always holds every record).

Examples:
  raindrop errors
  raindrop errors --ext rd.ext.email --all
  raindrop errors --json | jq '.groups'`,
  options: { ext: { type: 'string' }, all: { type: 'boolean' } },
  async run(ctx, values) {
    const { server, db } = await openDatabase(ctx);
    try {
      const errors = await listErrors(db, typeof values.ext === 'string' ? values.ext : undefined);
      const groups = groupErrors(errors);
      const extensions = new Set(errors.map((e) => e.extension)).size;
      const width = (key: 'extension' | 'kind') => Math.max(0, ...groups.map((g) => g[key].length));
      const summary = [
        `${errors.length} error${errors.length === 1 ? '' : 's'} in ${extensions} extension${extensions === 1 ? '' : 's'}${values.all === true ? '' : ' ("raindrop errors --all" lists each; "raindrop retry-errors" runs them again)'}`,
        ...groups.map((g) => `  ${g.extension.padEnd(width('extension'))}  ${g.kind.padEnd(width('kind'))}  ${String(g.count).padStart(6)}  e.g. ${oneLine(g.example)}`),
      ];
      const all = values.all === true ? ['', ...errors.map((e) => `${e.extension}  ${e.kind}  ${e.source_id}\n  ${e.message}`)] : [];
      ctx.output.data({ total: errors.length, groups, errors }, errors.length === 0 ? 'no errors' : [...summary, ...all].join('\n'));
      return exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};

/** Errors per (extension, kind), largest first, each with its first message. */
function groupErrors(errors: readonly ErrorRecord[]): Array<{ extension: string; kind: string; count: number; example: string }> {
  const groups = new Map<string, { extension: string; kind: string; count: number; example: string }>();
  for (const e of errors) {
    const key = `${e.extension}\u0000${e.kind}`;
    const group = groups.get(key) ?? { extension: e.extension, kind: e.kind, count: 0, example: e.message };
    group.count++;
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || (a.extension < b.extension ? -1 : 1));
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

export const retryErrorsCommand: Command = {
  name: 'retry-errors',
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
