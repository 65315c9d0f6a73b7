import { useDatabase, type Db } from '../couch/connect.js';
import type { OpenServer } from '../couch/open-server.js';
import { type QueueOptions, QueueRunner } from '../queue/queue-runner.js';
import { SchemaRegistry } from '../schema/registry.js';
import type { CommandContext } from './command.js';
import { ensureInstalled } from './open-database.js';

export interface OpenQueue {
  server: OpenServer;
  db: Db;
  registry: SchemaRegistry;
  runner: QueueRunner;
  close(): Promise<void>;
}

/** Server, schema registry and queue for a command; `close` releases all three. */
export async function openQueue(ctx: CommandContext, only?: readonly string[], owner: 'serve' | 'command' = 'command', onBatch?: QueueOptions['onBatch']): Promise<OpenQueue> {
  const server = await ctx.openServer(owner);
  const db = useDatabase(server.couch, ctx.config.db);
  let registry: SchemaRegistry | undefined;
  try {
    await ensureInstalled(ctx, server.couch);
    registry = await SchemaRegistry.load(db, { logger: ctx.logger });
    const runner = await QueueRunner.start({
      db,
      registry,
      logger: ctx.logger,
      ...(only && only.length > 0 ? { only } : {}),
      // Per-batch lines are for --verbose (process) or --log-level debug.
      onBatch: onBatch ?? (({ lane, stats }) => ctx.logger.debug(`${lane} batch: ${stats.ran} ran, ${stats.skipped} up to date, ${stats.failed} failed, ${stats.written} written`)),
    });
    const reg = registry;
    return {
      server,
      db,
      registry: reg,
      runner,
      close: async () => {
        await runner.close();
        await reg.close();
        await server.release();
      },
    };
  } catch (err) {
    await registry?.close();
    await server.release();
    throw err;
  }
}

/** `--ext` values as a list. */
export function extOption(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? [value] : [];
}
