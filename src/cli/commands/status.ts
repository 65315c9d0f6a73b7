import { RaindropError, errorCodes } from '../../core/index.js';
import { callCouch, useDatabase } from '../../couch/connect.js';
import { databaseInfo } from '../../couch/database-info.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';

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
    const server = await ctx.openServer();
    try {
      const db = useDatabase(server.couch, ctx.config.db);
      const info = await databaseInfo(db);
      if (!info) {
        throw new RaindropError(errorCodes.USAGE, `database "${ctx.config.db}" does not exist on ${server.couch.url}; run "raindrop init" first`);
      }
      const view = (await callCouch(server.couch, 'counting documents per schema', () =>
        db.scope.view('rd_core', 'by_schema', { group: true }),
      )) as { rows: Array<{ key: string; value: number }> };
      const schemas: Record<string, number> = {};
      for (const row of view.rows) schemas[row.key] = row.value;
      const lines = [
        `server: ${server.couch.url}`,
        `database: ${info.name} (${info.docCount} documents, ${info.deletedDocCount} deleted)`,
        ...Object.entries(schemas).map(([id, n]) => `  ${id}: ${n}`),
      ];
      ctx.output.data(
        { server: server.couch.url, db: info.name, docCount: info.docCount, deletedDocCount: info.deletedDocCount, schemas },
        lines.join('\n'),
      );
      return exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};
