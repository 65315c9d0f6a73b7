import type { Couch } from '../couch/connect.js';
import { useDatabase } from '../couch/connect.js';
import { databaseInfo } from '../couch/database-info.js';
import type { CommandContext } from './command.js';
import { installDatabase } from './install.js';

/** Commands that need the database run `init` themselves when it does not exist yet,
 * so "raindrop import FILE" works on a fresh machine with no other step. */
export async function ensureInstalled(ctx: CommandContext, couch: Couch): Promise<void> {
  if (await databaseInfo(useDatabase(couch, ctx.config.db))) return;
  ctx.logger.info(`database "${ctx.config.db}" does not exist yet; installing it (raindrop init)`);
  await installDatabase(couch, ctx.config.db, ctx.config.extensions, ctx.logger);
}
