import { RaindropError, errorCodes } from '../../core/index.js';
import { callCouch } from '../../couch/connect.js';
import { databaseInfo } from '../../couch/database-info.js';
import type { Db } from '../../couch/connect.js';
import { bulkGet } from '../../couch/bulk-get.js';
import { changesPending } from '../../couch/changes-pending.js';
import { checkpointSchemaId, readCheckpoints } from '../../queue/checkpoints.js';
import { isBookkeeping } from '../../queue/provenance.js';
import { installedExtensionIds } from '../install-extensions.js';

/** Per installed extension: queue state, lag behind the feed, error count. */
async function extensionStatus(db: Db) {
  const docs = [...(await bulkGet(db, await installedExtensionIds(db))).values()];
  const ids = docs.map((d) => String(d.id));
  const checkpoints = await readCheckpoints(db, ids);
  const errorRows = (await callCouch(db.couch, 'counting errors', () => db.scope.view('rd_queue', 'errors_by_extension', { group: true }))) as { rows: Array<{ key: string; value: number }> };
  const errors = new Map(errorRows.rows.map((r) => [r.key, r.value]));
  return Promise.all(docs.map(async (doc) => {
    const id = String(doc.id);
    const cp = checkpoints.get(id);
    const current = cp !== undefined && cp.code_hash === doc.code_hash;
    const pending = await changesPending(db, current ? cp.seq : undefined, (changed) => isBookkeeping(changed) || changed.endsWith(`!${checkpointSchemaId}`));
    return {
      id,
      state: !cp ? 'never run' : !current ? 'code changed: will replay' : cp.lane === 'backlog' ? 'replaying' : 'incoming',
      lag: pending.count,
      lagAtLeast: pending.atLeast,
      errors: errors.get(id) ?? 0,
    };
  }));
}
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'show the database and how many documents it holds per schema',
  help: `Usage: raindrop status [--json] [global options]

Prints the server, the database, its document count and the number of documents per
schema id. With --json, prints {server, db, docCount, deletedDocCount, schemas}.

Examples:
  raindrop status
  raindrop status --json | jq .schemas`,
  options: {},
  async run(ctx) {
    const { server, db } = await openDatabase(ctx);
    try {
      const info = await databaseInfo(db);
      // Only a database deleted by someone else between the two calls gets here.
      if (!info) throw new RaindropError(errorCodes.USAGE, `database "${ctx.config.db}" does not exist on ${server.couch.url}; run "raindrop init"`);
      const view = (await callCouch(server.couch, 'counting documents per schema', () =>
        db.scope.view('rd_core', 'by_schema', { group: true }),
      )) as { rows: Array<{ key: string; value: number }> };
      const schemas: Record<string, number> = {};
      for (const row of view.rows) schemas[row.key] = row.value;
      const extensions = await extensionStatus(db);
      const lines = [
        `server: ${server.couch.url}`,
        `database: ${info.name} (${info.docCount} documents, ${info.deletedDocCount} deleted)`,
        ...Object.entries(schemas).map(([id, n]) => `  ${id}: ${n}`),
        ...(extensions.length > 0 ? ['extensions:'] : []),
        ...extensions.map((e) => `  ${e.id}: ${e.state}, lag ${e.lag}${e.lagAtLeast ? '+' : ''} changes, ${e.errors} errors`),
      ];
      ctx.output.data(
        { server: server.couch.url, db: info.name, docCount: info.docCount, deletedDocCount: info.deletedDocCount, schemas, extensions },
        lines.join('\n'),
      );
      return exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};
