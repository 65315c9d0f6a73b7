import { type Couch, type Db, useDatabase } from '../couch/connect.js';
import { databaseInfo } from '../couch/database-info.js';
import type { OpenServer } from '../couch/open-server.js';
import type { CommandContext } from './command.js';
import { installDatabase } from './install.js';

export interface OpenDatabase {
  server: OpenServer;
  db: Db;
  /** Releases the server (stops an embedded server started for this command). */
  release(): Promise<void>;
}

/** Commands that need the database run `init` themselves when it does not exist yet,
 * so every command works on a fresh data directory with no other step. */
export async function ensureInstalled(ctx: CommandContext, couch: Couch): Promise<void> {
  if (await databaseInfo(useDatabase(couch, ctx.config.db))) return;
  ctx.logger.info(`database "${ctx.config.db}" does not exist yet; installing it (raindrop init)`);
  await installDatabase(couch, ctx.config.db, ctx.config.extensions, ctx.logger);
}

/** The server and the installed database, for every command that reads or writes
 * items; the one place a command gets its database, so none can skip the install. */
export async function openDatabase(ctx: CommandContext): Promise<OpenDatabase> {
  const server = await ctx.openServer();
  try {
    await ensureInstalled(ctx, server.couch);
  } catch (err) {
    await server.release();
    throw err;
  }
  return { server, db: useDatabase(server.couch, ctx.config.db), release: () => server.release() };
}
