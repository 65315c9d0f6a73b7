import { RaindropError, errorCodes } from '../../core/index.js';
import { countBySchema } from '../../couch/count-by-schema.js';
import { databaseInfo } from '../../couch/database-info.js';
import { errorSchemaId } from '../../queue/process-batch.js';
import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { openDatabase } from '../open-database.js';
import { extensionStatus } from '../extension-status.js';
import { clusterStatus, clusterStatusLines } from '../../cluster/cluster-status.js';

export const statusCommand: Command = {
  name: 'status',
  help: `Usage: raindrop status [--json] [global options]

Prints the server, the database, its document count, the number of documents per
schema id, and per installed extension its state, lag behind the feed and error count.
When workers share the database ("raindrop worker"), also each worker (live, draining
or dead, heartbeat age, partitions held) and each partition's owner, epoch and lag.
It reads ids and the changes feed only (no view), so it answers at once even right after
a big import. With --json, prints {server, db, docCount, deletedDocCount, schemas,
extensions, cluster?}.

Examples:
  raindrop status
  raindrop status --json | jq .schemas`,
  options: {},
  async run(ctx) {
    const { server, db } = await openDatabase(ctx);
    try {
      const info = await databaseInfo(db);
      if (!info) {
        throw new RaindropError(errorCodes.USAGE, `database "${ctx.config.db}" does not exist on ${server.couch.url}; run "raindrop init" first`);
      }
      const counts = await countBySchema(db, [errorSchemaId]);
      const extensions = await extensionStatus(db, counts.collected[errorSchemaId]);
      const lines = [
        `server: ${server.couch.url}`,
        `database: ${info.name} (${info.docCount} documents, ${info.deletedDocCount} deleted)`,
        ...Object.entries(counts.schemas).map(([id, n]) => `  ${id}: ${n}`),
        ...(extensions.length > 0 ? ['extensions:'] : []),
        ...extensions.map((e) => `  ${e.id}: ${e.state}, lag ${e.lag}${e.lagAtLeast ? '+' : ''} changes, ${e.errors} errors`),
      ];
      // Several workers ("raindrop worker"): who holds which partition, and its lag. The
      // per-extension lag above is then the single queue's, which workers do not move.
      const cluster = await clusterStatus(db);
      if (cluster) lines.push(...clusterStatusLines(cluster));
      ctx.output.data(
        { server: server.couch.url, db: info.name, docCount: info.docCount, deletedDocCount: info.deletedDocCount, schemas: counts.schemas, extensions, ...(cluster ? { cluster } : {}) },
        lines.join('\n'),
      );
      return exitCodes.ok;
    } finally {
      await server.release();
    }
  },
};
